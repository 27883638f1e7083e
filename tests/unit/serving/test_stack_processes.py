"""Child processes of the stack: a stop takes the whole process group, pids are never reused blindly."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from serving.stack.processes import (
    Child,
    ChildSpec,
    group_members,
    is_same_process,
    kill_group_if_same,
    start_ticks,
    stop_children,
)

# A parent that forks a grandchild (like Triton's backend stubs) and ignores nothing.
FORKING_PARENT = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
# A child that ignores SIGTERM: only the SIGKILL after the grace period stops it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)


def spec(tmp_path: Path, name: str, code: str) -> ChildSpec:
    return ChildSpec(
        name=name,
        command=[sys.executable, "-c", code],
        ready_url="http://127.0.0.1:9/never",
        log_path=tmp_path / f"{name}.log",
        url="",
        ports={},
    )


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_stopping_a_child_stops_its_grandchildren(tmp_path: Path) -> None:
    child = Child(spec(tmp_path, "forking", FORKING_PARENT))
    child.start()
    assert wait_for(lambda: len(group_members(child.pid)) == 2)

    stop_children([child], grace_s=5.0)

    assert child.exit_code() is not None
    assert group_members(child.pid) == []


def test_a_child_ignoring_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    child = Child(spec(tmp_path, "stubborn", STUBBORN))
    child.start()
    assert wait_for(lambda: "up" in child.spec.log_path.read_text())
    started = time.monotonic()

    stop_children([child], grace_s=0.5)

    assert 0.4 < time.monotonic() - started < 5.0
    assert child.exit_code() == -9
    assert "starting stubborn" in child.log_tail()


def test_a_recorded_pid_is_only_signalled_while_it_is_the_same_process() -> None:
    me = os.getpid()
    ticks = start_ticks(me)
    assert is_same_process(me, ticks)
    assert not is_same_process(me, (ticks or 0) + 1)
    assert not kill_group_if_same(me, (ticks or 0) + 1)  # a "reused" pid: left alone
