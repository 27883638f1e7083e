"""Acting on a stack from another process: start it detached, stop it, report its health.

Everything goes through ``stack.json`` and the pids (with start times) recorded there, so
``yard serve stop`` works from any shell and never signals a process we did not start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from modelyard.errors import UnavailableError
from modelyard.settings import Settings
from serving.stack.candidates import stop_all_candidates
from serving.stack.processes import (
    group_members,
    is_same_process,
    kill_group_if_same,
    log_tail,
    probe,
    rss_kib,
)
from serving.stack.state import (
    StackState,
    is_running,
    mark_stopped,
    read_state,
    serving_dir,
    state_path,
)
from serving.stack.supervisor import ServeOptions, refuse_if_running

DETACH_EXTRA_S = 120.0
"""Beyond ``--ready-timeout``: downloading artifacts and importing Triton's helpers."""
STOP_TIMEOUT_S = 90.0
_POLL_S = 0.5


@dataclass(frozen=True)
class ChildHealth:
    name: str
    pid: int | None
    alive: bool
    ready: bool
    status: str
    restarts: int
    rss_kib: int
    """Summed over the child's whole process group (e.g. Triton and its backend stubs)."""
    url: str


def supervisor_command(options: ServeOptions) -> list[str]:
    """``python -m serving.stack`` with the options: the process ``--detach`` leaves running."""
    command = [sys.executable, "-m", "serving.stack", "--ready-timeout", str(options.ready_timeout_s)]
    if options.models:
        command += ["--models", ",".join(options.models)]
    if options.gateway_port is not None:
        command += ["--port", str(options.gateway_port)]
    if options.auth is False:
        command.append("--no-auth")
    return command


def start_detached(settings: Settings, options: ServeOptions) -> StackState:
    """Start the supervisor in its own session and return once the stack is ready."""
    refuse_if_running(settings)
    log_path = serving_dir(settings) / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODELYARD_STATE_DIR": str(settings.state_dir)}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            supervisor_command(options),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + options.ready_timeout_s + DETACH_EXTRA_S
    while time.monotonic() < deadline:
        state = _own_state(settings, process.pid)
        if state is not None and state.status in ("ready", "degraded"):
            return state
        if process.poll() is not None:
            raise UnavailableError(
                f"the stack failed to start (exit code {process.returncode}):\n{log_tail(log_path)}",
                hint=f"read {log_path} and the child logs next to it",
            )
        time.sleep(_POLL_S)
    os.killpg(process.pid, signal.SIGTERM)
    raise UnavailableError("the stack was not ready in time; stopping it", hint=f"read {log_path}")


def stop_stack(settings: Settings, timeout_s: float = STOP_TIMEOUT_S) -> StackState:
    """SIGTERM the supervisor (it drains and stops its children); clean up if it cannot."""
    state = read_state(settings)
    pid, ticks = state.supervisor_pid, state.supervisor_start_ticks
    if is_same_process(pid, ticks):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        # "stopped" is written once every child is gone; the interpreter's own exit may lag behind.
        while is_running(read_state(settings)) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        if is_running(read_state(settings)):
            os.kill(pid, signal.SIGKILL)
    # Candidate transformers started by `yard rollout` live outside the supervisor's children.
    stop_all_candidates(settings)
    state = read_state(settings)
    orphans = [c.name for c in state.children.values() if c.pid and kill_group_if_same(c.pid, c.start_ticks)]
    if orphans or state.status != "stopped":
        mark_stopped(settings, state)
    return state


def child_health(state: StackState) -> list[ChildHealth]:
    """Each child as it is now (not as last written): alive, ready, memory."""
    report = []
    for child in state.children.values():
        alive = child.pid is not None and is_same_process(child.pid, child.start_ticks)
        rss = sum(rss_kib(pid) for pid in group_members(child.pid)) if alive and child.pid else 0
        report.append(
            ChildHealth(
                name=child.name,
                pid=child.pid,
                alive=alive,
                ready=alive and probe(child.ready_url),
                status=child.status,
                restarts=child.restarts,
                rss_kib=rss,
                url=child.url,
            )
        )
    return report


def supervisor_rss_kib(state: StackState) -> int:
    return rss_kib(state.supervisor_pid) if is_running(state) else 0


def _own_state(settings: Settings, supervisor_pid: int) -> StackState | None:
    """The state written by this supervisor (an older file may still be there)."""
    if not state_path(settings).is_file():
        return None
    state = read_state(settings)
    return state if state.supervisor_pid == supervisor_pid else None
