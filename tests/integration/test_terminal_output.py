"""What a person at a terminal sees from ``yard``: the command's own output, no JSON log line, no
library's progress bar or log line; with ``-v`` those come back; without a terminal the logs stay
JSON lines.

Real processes: ``yard`` under a pseudo-terminal (python's ``pty``) against a real ``mlflow server``,
whose artifact downloads draw MLflow's tqdm bar ("Downloading artifacts") unless told not to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.registry import Registry
from modelyard.settings import Settings
from tests.terminal import json_log_lines, run_in_terminal, screen_lines
from tests.unit.registry.triton_versions import register_triton_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "terminal-output"
YARD = str(Path(sys.executable).with_name("yard"))
MLFLOW_BAR = "Downloading artifacts"


@pytest.fixture(scope="module")
def publish(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    """(``yard registry publish`` of a version whose files live on the MLflow server, its environment)."""
    state = tmp_path_factory.mktemp("state")
    registry = Registry(Settings(state_dir=state, mlflow_tracking_uri=mlflow_server))
    version = register_triton_version(registry, MODEL, tmp_path_factory.mktemp("version"))
    assert version.source.startswith("mlflow-artifacts:/")  # downloads go through the server
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))},
        "MODELYARD_STATE_DIR": str(state),
        "MODELYARD_MLFLOW_TRACKING_URI": mlflow_server,
        "COLUMNS": "80",
        "TERM": "xterm-256color",
    }
    store = tmp_path_factory.mktemp("store").as_uri()
    return ["registry", "publish", MODEL, "--version", str(version.version), "--model-store", store], env


def test_on_a_terminal_yard_prints_its_story_without_log_lines_or_library_bars(publish) -> None:
    args, env = publish
    code, output = run_in_terminal([YARD, *args], env)
    lines = screen_lines(output)
    assert code == 0, output
    assert any(line.startswith(f"published {MODEL} v") for line in lines), output
    assert json_log_lines(output) == []
    assert MLFLOW_BAR not in output
    assert not [line for line in lines if " INFO " in line or line.startswith("20")], output  # library logs


def test_verbose_brings_back_the_events_and_the_library_bar(publish) -> None:
    """The control: the same command with -v shows what the quiet default hides."""
    args, env = publish
    code, output = run_in_terminal([YARD, "-v", *args], env)
    assert code == 0, output
    assert MLFLOW_BAR in output
    assert any("registry_version_published" in line for line in screen_lines(output))
    assert json_log_lines(output) == []  # readable lines, not JSON


def test_without_a_terminal_every_log_line_is_json(publish) -> None:
    args, env = publish
    done = subprocess.run([YARD, *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]  # all JSON
    assert any(record["event"] == "registry_version_published" for record in records)
    assert MLFLOW_BAR not in done.stderr
    assert done.stdout.startswith(f"published {MODEL} v")
