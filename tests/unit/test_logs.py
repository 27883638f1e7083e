"""The log policy of ``yard`` and the servers: which records reach stderr, and in which format."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator

import pytest

from modelyard import logs


class _Stderr(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], _Stderr]]:
    """``stderr(terminal)``: a fake stderr the handler writes to; the root logger is restored after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    saved_env = dict(os.environ)  # configure() sets library defaults with setdefault
    for name in ("MODELYARD_LOG_FORMAT", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MLFLOW_CONFIGURE_LOGGING"):
        monkeypatch.delenv(name, raising=False)

    def make(terminal: bool) -> _Stderr:
        fake = _Stderr(terminal)
        monkeypatch.setattr("sys.stderr", fake)
        for name in ("mlflow", "ray"):  # as they set themselves up when imported before configure()
            library = logging.getLogger(name)
            library.handlers = [logging.StreamHandler(fake)]
            library.propagate = False
        return fake

    yield make
    for name in ("mlflow", "ray"):
        logs.adopt_library_logger(name)
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    logging.captureWarnings(False)
    os.environ.clear()
    os.environ.update(saved_env)


def _emit_one_of_each() -> None:
    logs.event(logging.getLogger("modelyard.data"), "own_info", rows=3)
    logs.event(logging.getLogger("training.runner"), "own_warning", logging.WARNING, why="x")
    logging.getLogger("mlflow.store").info("library info")
    logging.getLogger("ray.train").warning("library warning")
    logging.getLogger("urllib3").error("library error")


def test_yard_on_a_terminal_logs_only_own_warnings_and_library_errors(stderr) -> None:
    out = stderr(terminal=True)
    logs.configure(interactive=True)
    _emit_one_of_each()
    assert out.getvalue().splitlines() == [
        "\x1b[33mwarning\x1b[0m: own_warning why=x",
        "\x1b[31merror\x1b[0m: library error",
    ]


def test_yard_without_a_terminal_logs_json_own_info_and_library_warnings(stderr) -> None:
    out = stderr(terminal=False)
    logs.configure(interactive=True)
    _emit_one_of_each()
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["own_info", "own_warning", "library warning", "library error"]


@pytest.mark.parametrize("terminal", [True, False])
def test_verbose_logs_everything_at_info_in_the_chosen_format(stderr, terminal: bool) -> None:
    out = stderr(terminal=terminal)
    logs.configure(log_format="text", verbose=True, interactive=True)
    _emit_one_of_each()
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and "mlflow.store: library info" in lines[2]


def test_verbose_without_a_terminal_stays_json(stderr) -> None:
    out = stderr(terminal=False)
    logs.configure(verbose=True, interactive=True)
    _emit_one_of_each()
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()][2] == "library info"


def test_log_format_json_wins_on_a_terminal(stderr) -> None:
    out = stderr(terminal=True)
    logs.configure(log_format="json", interactive=True)
    logs.event(logging.getLogger("modelyard.x"), "seen", n=1)
    assert json.loads(out.getvalue()) | {"ts": 0} == {
        "ts": 0,
        "level": "info",
        "logger": "modelyard.x",
        "event": "seen",
        "n": 1,
    }


def test_servers_keep_every_library_record(stderr) -> None:
    out = stderr(terminal=False)
    logs.configure()
    _emit_one_of_each()
    assert len(out.getvalue().splitlines()) == 5


def test_library_progress_bars_are_off_unless_verbose_and_a_user_choice_wins(
    stderr, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr(terminal=True)
    logs.configure(interactive=True)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert os.environ["MLFLOW_CONFIGURE_LOGGING"] == "false"
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")
    logs.configure(interactive=True)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"


def test_python_warnings_from_libraries_follow_the_same_policy(stderr) -> None:
    out = stderr(terminal=True)
    logs.configure(interactive=True)
    import warnings

    warnings.warn("a library's deprecation", UserWarning, stacklevel=1)
    assert out.getvalue() == ""
