"""The monitor's result: one JSON object per model and window, and the latest one on disk (which
the gateway's /metrics reads as gauges through ``modelyard.monitor_results``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.fsutil import write_json_atomically
from modelyard.monitor_results import latest_path as latest_in
from modelyard.monitor_results import monitor_dir
from modelyard.settings import Settings


def latest_path(settings: Settings, model: str) -> Path:
    """``<state_dir>/monitor/<model>.json``."""
    return latest_in(monitor_dir(settings), model)


def write_latest(settings: Settings, result: dict[str, Any]) -> Path:
    path = latest_path(settings, result["model"])
    write_json_atomically(path, result)
    return path
