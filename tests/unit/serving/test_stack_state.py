"""A ``stack.json`` left behind by a supervisor that died (SIGKILL, crash, reboot) is seen for what
it is: repaired to "stopped" when nothing of it runs, reported when children outlived it.

The processes are real (a finished ``true`` for a dead pid, a ``sleep`` for a live child)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.errors import UnavailableError
from modelyard.settings import Settings, get_settings
from serving.stack.processes import start_ticks
from serving.stack.state import (
    ChildState,
    StackState,
    read_live_state,
    read_state,
    require_running,
    state_path,
    write_state,
)
from yard.main import app


def _dead_pid() -> tuple[int, int]:
    done = subprocess.Popen(["true"])
    ticks = start_ticks(done.pid) or 1
    done.wait()
    return done.pid, ticks


@pytest.fixture
def live_child() -> Iterator[tuple[int, int | None]]:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        yield sleeper.pid, start_ticks(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def _left_behind(settings: Settings, status: str, child: tuple[int, int | None] | None = None) -> None:
    pid, ticks = _dead_pid()
    child_pid, child_ticks = child or _dead_pid()
    state = StackState(
        status=status,  # type: ignore[arg-type]
        supervisor_pid=pid,
        supervisor_start_ticks=ticks,
        started_at=0.0,
        host="127.0.0.1",
        gateway_url="http://127.0.0.1:1",
        auth=False,
        api_key_file=None,
        model_repository="/nowhere",
        logs_dir="/nowhere",
        children={
            "gateway": ChildState(
                name="gateway",
                pid=child_pid,
                start_ticks=child_ticks,
                status="ready",
                url="http://127.0.0.1:1",
                ready_url="http://127.0.0.1:1/v2/health/ready",
                ports={"http": 1},
                log="/nowhere/gateway.log",
            )
        },
    )
    state_path(settings).parent.mkdir(parents=True, exist_ok=True)
    write_state(state_path(settings), state)


@pytest.mark.parametrize("status", ["starting", "ready", "stopping"])
def test_a_state_whose_processes_are_all_gone_is_repaired_to_stopped(tmp_path: Path, status: str) -> None:
    settings = Settings(state_dir=tmp_path)
    _left_behind(settings, status)
    repaired = read_live_state(settings)
    assert repaired.status == "stopped" and read_state(settings).status == "stopped"
    assert {child.status for child in repaired.children.values()} == {"stopped"}
    with pytest.raises(UnavailableError) as caught:
        require_running(repaired)
    assert caught.value.message == "no stack is running" and "yard serve --detach" in caught.value.hint


def test_children_that_outlived_their_supervisor_are_reported_not_hidden(
    tmp_path: Path, live_child: tuple[int, int | None]
) -> None:
    settings = Settings(state_dir=tmp_path)
    _left_behind(settings, "ready", child=live_child)
    state = read_live_state(settings)
    assert state.status == "ready"  # not rewritten: the gateway still runs
    with pytest.raises(UnavailableError) as caught:
        require_running(state)
    assert "gateway still run without it" in caught.value.message
    assert "yard serve stop" in caught.value.hint


@pytest.mark.parametrize("command", [["serve", "status"], ["query", "ranking", "--user", "1"]])
def test_query_and_status_say_no_stack_runs_instead_of_trusting_a_stale_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        _left_behind(get_settings(), "stopping")
        result = CliRunner().invoke(app, command)
    finally:
        get_settings.cache_clear()
    assert isinstance(result.exception, UnavailableError), result.output
    assert result.exception.message == "no stack is running"
    assert read_state(Settings(state_dir=tmp_path)).status == "stopped"
