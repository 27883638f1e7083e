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
