"""``<state_dir>/serving/stack.json``: what is running, where, and which versions it serves.

Written by the supervisor on every change (atomically); read by ``yard serve status/stop``,
``yard query`` and ``yard rollout``. It never holds the API key, only where the key lives.
A supervisor that dies without writing "stopped" (SIGKILL, a crash, a reboot) leaves a stale
state: ``read_live_state`` holds it against the processes it names and repairs it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from modelyard.errors import NotFoundError, UnavailableError
from modelyard.fsutil import write_text_atomically
from modelyard.logs import event
from modelyard.settings import Settings
from serving.stack.processes import is_same_process

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATE_FILE = "stack.json"

ChildStatus = Literal["starting", "ready", "restarting", "failed", "stopped"]
StackStatus = Literal["starting", "ready", "degraded", "stopping", "stopped", "failed"]


class ChildState(BaseModel):
    """One supervised process; ``pid`` + ``start_ticks`` identify it even after a pid reuse."""

    name: str
    pid: int | None = None
    start_ticks: int | None = None
    status: ChildStatus = "starting"
    url: str
    ready_url: str
    ports: dict[str, int]
    log: str
    restarts: int = 0


class ModelState(BaseModel):
    """One served registered model: its version and the transformer answering for it."""

    name: str
    version: int
    run_id: str
    alias: str
    triton_models: dict[str, list[int]]
    """Triton model -> versions loaded (Triton version == MLflow version)."""
    transformer: str
    """Name of the child in ``children``."""
    upstream_url: str
    replica_urls: list[str] = Field(default_factory=list)
    """More transformers of this version (``MODELYARD_TRANSFORMER_REPLICAS``): the gateway sends
    requests to ``upstream_url`` and these in turn."""
    artifact_dir: str


class StackState(BaseModel):
    """The whole stack, as the supervisor last saw it."""

    schema_version: int = SCHEMA_VERSION
    status: StackStatus = "starting"
    supervisor_pid: int
    supervisor_start_ticks: int | None
    started_at: float
    ready_seconds: float | None = None
    """Seconds from ``yard serve`` to every child ready (the cold start)."""
    host: str
    gateway_url: str
    auth: bool
    api_key_file: str | None
    """Where the gateway's key is (None: auth off, or the key comes from MODELYARD_API_KEY)."""
    admin_key_file: str | None = None
    """Where the gateway's admin key is (None: auth off, or it comes from MODELYARD_ADMIN_KEY)."""
    model_repository: str
    logs_dir: str
    models: dict[str, ModelState] = {}
    skipped: dict[str, str] = {}
    """Model -> why it is not served."""
    children: dict[str, ChildState] = {}


def serving_dir(settings: Settings) -> Path:
    return settings.state_dir / "serving"


def triton_key_path(settings: Settings) -> Path:
    """The key of the stack's Triton restricted APIs (model loads): new at every ``yard serve``,
    mode 0600, read by ``yard rollout`` to load a candidate."""
    return serving_dir(settings) / "triton_key"


def state_path(settings: Settings) -> Path:
    return serving_dir(settings) / STATE_FILE


def write_state(path: Path, state: StackState) -> None:
    """Readers (``yard serve status``, ``yard query``) never see half a file."""
    write_text_atomically(path, state.model_dump_json(indent=2) + "\n")


def read_state(settings: Settings) -> StackState:
    """The last written state, or NotFoundError telling how to start the stack."""
    path = state_path(settings)
    if not path.is_file():
        raise NotFoundError(
            f"no serving stack has been started here ({path} is missing)", hint="run yard serve"
        )
    try:
        return StackState.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise NotFoundError(
            f"{path} is not a stack state of this modelyard version: {exc.error_count()} errors",
            hint=f"stop any stack still running, delete {path} and run yard serve",
        ) from exc


def supervisor_alive(state: StackState) -> bool:
    return is_same_process(state.supervisor_pid, state.supervisor_start_ticks)


def is_running(state: StackState) -> bool:
    """The stack is up: not marked stopped, and its supervisor process is the one recorded."""
    return state.status != "stopped" and supervisor_alive(state)


def unsupervised_children(state: StackState) -> list[str]:
    """Children still running although their supervisor is gone (it was killed outright)."""
    if supervisor_alive(state):
        return []
    return [c.name for c in state.children.values() if c.pid and is_same_process(c.pid, c.start_ticks)]


def mark_stopped(settings: Settings, state: StackState) -> StackState:
    """Write ``state`` as stopped, every child too."""
    state.status = "stopped"
    for child in state.children.values():
        child.status = "stopped"
    write_state(state_path(settings), state)
    return state


def read_live_state(settings: Settings) -> StackState:
    """``read_state``, repaired when it is stale: a state not "stopped" whose supervisor and
    children are all gone is written "stopped" (children still running are left to
    ``yard serve stop``, which knows how to stop them)."""
    state = read_state(settings)
    if state.status == "stopped" or supervisor_alive(state) or unsupervised_children(state):
        return state
    event(log, "stack_state_repaired", was=state.status, supervisor_pid=state.supervisor_pid)
    return mark_stopped(settings, state)


def require_running(state: StackState) -> StackState:
    """``state`` if its supervisor runs and it serves; else UnavailableError saying why, and the fix."""
    orphans = unsupervised_children(state)
    if orphans:
        raise UnavailableError(
            f"the stack's supervisor (pid {state.supervisor_pid}) is gone; "
            f"{', '.join(orphans)} still run without it",
            hint="stop them with yard serve stop, then start again: yard serve --detach",
        )
    if state.status == "stopped" or not supervisor_alive(state):
        raise UnavailableError("no stack is running", hint="start one: yard serve --detach")
    if state.status not in ("ready", "degraded"):
        raise UnavailableError(f"the stack is {state.status}", hint="yard serve status shows each process")
    return state
