"""Shared fixtures for integration tests: real servers on loopback, started per session.

Each fixture is self-contained (its own helpers, named after the server it starts).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# --- MLflow tracking server -------------------------------------------------------------

MLFLOW_SERVER_READY_TIMEOUT_S = 120.0


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_mlflow_health(uri: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + MLFLOW_SERVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{uri}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    log_tail = log_path.read_text()[-3000:]
    pytest.fail(f"mlflow server not healthy after {MLFLOW_SERVER_READY_TIMEOUT_S} s:\n{log_tail}")


@pytest.fixture
def mlflow_dead_uri() -> str:
    """An http URI on loopback where no MLflow server answers."""
    return f"http://127.0.0.1:{free_loopback_port()}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real ``mlflow server`` (sqlite backend, proxied local artifacts) on a free port."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_loopback_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with log_path.open("wb") as log_file:
        # Own process group: the server forks uvicorn workers that must stop with it.
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_for_mlflow_health(uri, process, log_path)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- Ray (local, one per test session) -----------------------------------------------------


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray shared by every test that trains (``ray.init`` costs 5-8 s); the training code
    reuses an initialised Ray and leaves it running, this fixture stops it at the end."""
    import shutil
    import tempfile

    import ray

    # Short on purpose: Ray's unix socket paths under _temp_dir are limited to 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


# --- Serving stack (yard serve), one per session --------------------------------------------

STACK_MODELS = ("visual-search", "moderation", "ranking")
STACK_INDEX_LIMIT = 5000
STACK_READY_TIMEOUT_S = 300.0


@pytest.fixture(scope="session")
def smoke_trained(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> tuple:
    """``(settings, {model: why it is left out})``: the three models trained (``--smoke``), registered
    and gated by the training runner into a fresh state dir, once per session."""
    from rich.console import Console

    from modelyard.settings import Settings
    from training.cluster import ray_session
    from training.options import TrainOptions
    from training.runner import train

    installed = Settings()
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("stack-state"),
        fashion_mnist_source=installed.fashion_mnist_source,
        spamassassin_source=installed.spamassassin_source,
        movielens_source=installed.movielens_source,
        device="cpu",
    )
    quiet = Console(quiet=True)
    untrained: dict[str, str] = {}
    with ray_session(settings):
        for model in STACK_MODELS:
            try:
                train(model, TrainOptions(smoke=True, show_progress=False), settings, quiet)
            except Exception as error:  # one broken task must not hide the others' serving tests
                untrained[model] = f"training {model} failed: {type(error).__name__}: {error}"[:400]
    return settings, untrained


@pytest.fixture(scope="session")
def served_stack(smoke_trained: tuple) -> Iterator[tuple]:
    """``(settings, stack state, {model: why it is left out})`` of a real stack (``yard serve --detach``).

    The session's smoke-trained models (``smoke_trained``), both indexes built (``yard index``), then
    the supervisor runs as its own process (Triton, three transformers, the gateway) on free ports.
    Stopped at the end of the session.
    """
    from serving.stack.control import start_detached, stop_stack
    from serving.stack.state import is_running, read_state
    from serving.stack.supervisor import ServeOptions

    settings, trained_untrained = smoke_trained
    untrained = dict(trained_untrained)
    env = {
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_FASHION_MNIST_SOURCE": str(settings.fashion_mnist_source),
        "MODELYARD_SPAMASSASSIN_SOURCE": str(settings.spamassassin_source),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_DRAIN_TIMEOUT_S": "5",
        "MODELYARD_PAYLOAD_FILE_AGE_S": "1",  # logged rows readable within a second
    }
    if settings.movielens_source is not None:
        env["MODELYARD_MOVIELENS_SOURCE"] = str(settings.movielens_source)
    for model in ("visual-search", "ranking"):
        if model in untrained:
            continue
        # As `make demo` does: its own process, so the embedded index is unlocked when it exits.
        indexed = subprocess.run(
            [str(Path(sys.executable).parent / "yard"), "index", model, "--limit", str(STACK_INDEX_LIMIT)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if indexed.returncode != 0:  # its transformer cannot serve without the index: leave it out
            last_lines = " | ".join(indexed.stderr.strip().splitlines()[-2:])
            untrained[model] = f"yard index {model} failed: {last_lines}"[:400]
    servable = [model for model in STACK_MODELS if model not in untrained]
    with pytest.MonkeyPatch.context() as patch:  # what the supervisor and its children inherit
        for name, value in env.items():
            patch.setenv(name, value)
        options = ServeOptions(models=servable, gateway_port=0, ready_timeout_s=STACK_READY_TIMEOUT_S)
        state = start_detached(settings, options)
    try:
        yield settings, state, untrained
    finally:
        if is_running(read_state(settings)):
            stop_stack(settings)
