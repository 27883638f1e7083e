"""Setup shared by the benchmarks that run the local stack (``stack``, ``serving``): champions in the
benchmark registry, ``yard`` commands against the benchmark state dir, and ``yard serve --detach``
started and always stopped.

Children get the benchmark's data folders and sources explicitly: with only
``MODELYARD_STATE_DIR`` set they would look for datasets under the benchmark state dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bench.schema import skipped
from bench.state import bench_settings
from modelyard.models import MODEL_NAMES
from modelyard.settings import Settings

if TYPE_CHECKING:
    from serving.stack.state import StackState
    from serving.transformer.version import VersionState

READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 180.0
INDEX_TIMEOUT_S = 1800.0
_SETTINGS_ENV = {
    "state_dir": "MODELYARD_STATE_DIR",
    "data_dir": "MODELYARD_DATA_DIR",
    "sources_dir": "MODELYARD_SOURCES_DIR",
    "fashion_mnist_source": "MODELYARD_FASHION_MNIST_SOURCE",
    "spamassassin_source": "MODELYARD_SPAMASSASSIN_SOURCE",
    "movielens_source": "MODELYARD_MOVIELENS_SOURCE",
    "transformer_replicas": "MODELYARD_TRANSFORMER_REPLICAS",
}

console = Console(stderr=True)


@dataclass(frozen=True)
class StartedStack:
    """A stack ``yard serve --detach`` brought up, and how long that took."""

    state: StackState
    """As ``stack.json`` was when every child was ready."""
    wall_seconds: float
    """From launching the command to its return with everything ready (the cold start)."""


def stack_benchmark(
    name: str, title: str, measure: Callable[[Settings, list[str]], dict[str, Any]]
) -> dict[str, Any]:
    """A stack benchmark's registry entry: ``skipped`` (with the reason) when the stack cannot run
    here, else ``measure(benchmark settings, served models)`` once every model has a champion."""
    reason = unavailable_reason()
    if reason:
        return skipped(name, title, reason)
    settings = bench_settings()
    return measure(settings, ensure_champions(settings))


def unavailable_reason() -> str | None:
    """Why ``yard serve`` cannot be benchmarked in this checkout (None: it can)."""
    if shutil.which("yard", path=str(Path(sys.executable).parent)) is None:
        return "the `yard` entry point is not installed in this venv (run `make install`)"
    try:
        from serving.stack.state import read_state  # noqa: F401
        from serving.stack.supervisor import ServeOptions  # noqa: F401
    except ImportError as exc:
        return f"serving/stack is not importable yet: {exc}"
    return None


def ensure_champions(settings: Settings) -> list[str]:
    """Every served model has a champion in the benchmark registry; train smoke ones where missing."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from modelyard.errors import NotFoundError
    from modelyard.registry import Registry

    registry = Registry(settings)
    missing = []
    for name in MODEL_NAMES:
        try:
            registry.resolve(name)
        except NotFoundError:
            missing.append(name)
    if missing:
        _train_smoke(settings, missing)
    return list(MODEL_NAMES)


def _train_smoke(settings: Settings, names: list[str]) -> None:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from training.cluster import ray_session
    from training.options import TrainOptions
    from training.runner import train

    options = TrainOptions(workers=1, epochs=1, smoke=True, resume=False, show_progress=False)
    with ray_session(settings):
        for name in names:
            with console.status(f"benchmark setup: training a smoke {name} champion (not timed)"):
                outcome = train(name, options, settings, Console(quiet=True))
            console.print(f"{name}: version {outcome.version} ({outcome.alias})")


def bench_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with the benchmark's state dir, data folders and sources."""
    chosen = {env: getattr(settings, field) for field, env in _SETTINGS_ENV.items()}
    return {**os.environ, **{env: _env_value(value) for env, value in chosen.items() if value is not None}}


def _env_value(value: Any) -> str:
    """How pydantic-settings reads a value back: complex ones as JSON."""
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def run_yard(settings: Settings, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``yard ARGS`` against the benchmark state dir, output captured."""
    yard = str(Path(sys.executable).parent / "yard")
    return subprocess.run(
        [yard, *args], env=bench_environment(settings), capture_output=True, text=True, timeout=timeout_s
    )


@contextmanager
def detached_stack(settings: Settings, *, auth: bool, label: str) -> Iterator[StartedStack]:
    """``yard serve --detach`` on a free gateway port until every child is ready; ``yard serve stop``
    on exit, whatever happened (a stack left running would skew every later measurement)."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from serving.stack.state import read_state

    command = ["serve", "--detach", "--port", "0", "--ready-timeout", str(READY_TIMEOUT_S)]
    if not auth:
        command.append("--no-auth")
    started = time.monotonic()
    try:
        with console.status(f"{label}: waiting for all-ready"):
            done = run_yard(settings, *command, timeout_s=READY_TIMEOUT_S + STOP_TIMEOUT_S)
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"`yard serve --detach` exited {done.returncode}: {done.stderr.strip()[-800:]}"
            )
        yield StartedStack(read_state(settings), round(wall, 2))
    finally:
        run_yard(settings, "serve", "stop", timeout_s=STOP_TIMEOUT_S)


def ensure_index(settings: Settings, state: VersionState) -> int | None:
    """Points in the version's collection, built first (whole catalogue) when it has none."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from embeddings import VectorStore

    store = VectorStore.from_settings(settings)
    points = store.complete_points(state.model, state.version)
    if points is None:
        with console.status(f"indexing {state.model} v{state.version} (not timed)"):
            done = run_yard(
                settings, "index", state.model, "--version", str(state.version), timeout_s=INDEX_TIMEOUT_S
            )
        if done.returncode != 0:
            raise RuntimeError(f"`yard index {state.model}` exited {done.returncode}: {done.stderr[-800:]}")
        points = store.complete_points(state.model, state.version)
    console.print(f"{state.model} v{state.version}: {points} points indexed")
    return points
