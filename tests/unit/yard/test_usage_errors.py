"""The real ``yard`` entry point answers a usage error with one line, its fix and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

YARD = Path(sys.executable).with_name("yard")


def _yard(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "MODELYARD_STATE_DIR": "/nonexistent/modelyard-cli-test"}
    return subprocess.run([str(YARD), *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("args", "message", "fix"),
    [
        (["foo"], "No such command 'foo'.", "yard --help"),
        (["registry", "shwo", "x"], "Did you mean 'show'?", "yard registry --help"),
        (
            ["query", "ranking", "--users", "3"],
            "No such option: --users. Did you mean --user?",
            "yard query ranking --help",
        ),
        (["query", "ranking", "--user", "abc"], "Invalid value for '--user'", "yard query ranking --help"),
        (["query", "ranking"], "Missing option '--user'.", "yard query ranking --help"),
    ],
)
def test_a_usage_error_is_one_line_with_its_fix_and_exit_2(args: list[str], message: str, fix: str) -> None:
    done = _yard(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1] == f"fix: {fix}"


def test_bare_yard_shows_help_and_succeeds() -> None:
    done = _yard()
    assert done.returncode == 0, done.stderr
    assert "Usage: yard" in done.stdout and "Traceback" not in done.stdout + done.stderr
