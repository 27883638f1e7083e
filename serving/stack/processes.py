"""Child processes of the stack, each in its own process group, and facts read from ``/proc``.

A child is started with ``start_new_session`` so everything it forks (Triton's python-backend
stubs, uvicorn workers) shares its process group: stopping the group leaves no orphan.
Pids are stored together with their start time, so a stale ``stack.json`` can never make us
signal an unrelated process that reused a pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
_PROBE_TIMEOUT_S = 1.0
_LOG_TAIL_LINES = 12
_KILLED_GONE_S = 2.0
"""How long a stop waits for a SIGKILLed group to leave the process table."""


@dataclass(frozen=True)
class ChildSpec:
    """How to run one process of the stack and how to tell it is ready."""

    name: str
    command: list[str]
    ready_url: str
    log_path: Path
    url: str
    """What clients of this child use (a base URL, or ``host:port`` for gRPC)."""
    ports: dict[str, int]
    env: dict[str, str] = field(default_factory=dict, repr=False)
    grace_s: float = 15.0
    """How long SIGTERM may take (in-flight requests drain) before SIGKILL."""


class Child:
    """One running (or stopped) child process of the stack."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.process: subprocess.Popen[bytes] | None = None
        self.start_ticks: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        """Launch in a new session; output appends to the child's log (restarts keep history)."""
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.spec.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.spec.env or None,
                start_new_session=True,
            )
        self.start_ticks = start_ticks(self.process.pid)

    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return None if self.process is None else self.process.poll()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def is_ready(self) -> bool:
        return self.is_running() and probe(self.spec.ready_url)

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def reap(self, deadline: float) -> None:
        """Wait for the child until ``deadline``, then SIGKILL its whole group."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(max(0.0, deadline - time.monotonic()))
        self.signal_group(signal.SIGKILL)  # also the leftovers of a child that did exit
        self.process.wait()
        # SIGKILL is delivered asynchronously: the grandchildren may linger (holding ports) briefly.
        gone_by = time.monotonic() + _KILLED_GONE_S
        while group_members(self.process.pid) and time.monotonic() < gone_by:
            time.sleep(0.02)

    def log_tail(self) -> str:
        return log_tail(self.spec.log_path)


def stop_children(children: list[Child], grace_s: float) -> None:
    """SIGTERM every child's group at once, wait up to ``grace_s``, SIGKILL what is left."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        child.reap(deadline)


def probe(url: str) -> bool:
    """True when ``url`` answers 200 (a readiness endpoint)."""
    try:
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None: no such process)."""
    stat = _stat_fields(pid)
    return int(stat[19]) if stat else None


def is_same_process(pid: int, ticks: int | None) -> bool:
    """``pid`` is alive (not a zombie) and is the process started at ``ticks`` (not a pid reuse)."""
    stat = _stat_fields(pid)
    return ticks is not None and stat is not None and stat[0] != "Z" and int(stat[19]) == ticks


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid`` (zombies hold no resources: left out)."""
    members = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat and int(stat[2]) == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (0 if it is gone)."""
    try:
        return int((_PROC / str(pid) / "statm").read_text().split()[1]) * _PAGE_KIB
    except (OSError, IndexError, ValueError):
        return 0


def kill_group_if_same(pid: int, ticks: int | None, signum: int = signal.SIGKILL) -> bool:
    """Signal the group led by ``pid`` only if ``pid`` is still the process we started."""
    if not is_same_process(pid, ticks):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
    return True


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (index 0 = state)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()
