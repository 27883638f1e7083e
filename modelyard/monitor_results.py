"""Where ``yard monitor`` keeps each model's latest result, and a reader for it.

Core, so the gateway can expose drift as Prometheus gauges without importing ``monitoring``
(a floor above it): the monitor writes ``<state_dir>/monitor/<model>.json``, the gateway reads it
at scrape time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.settings import Settings

MONITOR_DIR = "monitor"
OVERALL = "overall"
"""The signal label of a window's verdict (any signal drifted after correction)."""


def monitor_dir(settings: Settings) -> Path:
    return settings.state_dir / MONITOR_DIR


def latest_path(directory: Path, model: str) -> Path:
    return Path(directory) / f"{model}.json"


def read_latest(directory: Path, model: str) -> dict[str, Any] | None:
    """The latest result for ``model``; None when there is none or it is unreadable (a scrape
    must not fail on a half-written or hand-edited file)."""
    try:
        result = json.loads(latest_path(directory, model).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


@dataclass(frozen=True)
class DriftSample:
    model: str
    signal: str
    drift: float
    """1.0 drift, 0.0 none."""
    statistic: float


def drift_samples(directory: Path) -> Iterator[DriftSample]:
    """One sample per model and signal of every latest result in ``directory``, plus the
    window's verdict as signal ``overall`` (its statistic: the window's request count)."""
    for path in sorted(Path(directory).glob("*.json")):
        result = read_latest(directory, path.stem)
        if result is None or not isinstance(result.get("signals"), list):
            continue
        model = str(result.get("model", path.stem))
        yield DriftSample(model, OVERALL, float(bool(result.get("drift"))), float(result.get("requests", 0)))
        for signal in result["signals"]:
            if isinstance(signal, dict) and "name" in signal:
                statistic = signal.get("statistic")
                yield DriftSample(
                    model,
                    str(signal["name"]),
                    float(bool(signal.get("drift"))),
                    float(statistic) if isinstance(statistic, int | float) else float("nan"),
                )
