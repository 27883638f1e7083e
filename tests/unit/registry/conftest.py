"""Registry test helpers: log a real MLflow run with a weights folder and register it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from modelyard.registry import Registry, ResolvedVersion


@pytest.fixture
def log_version(tmp_path: Path) -> Callable[[Registry, str, str, float], ResolvedVersion]:
    """``log_version(registry, model, metric, value)``: one run (lr param, dataset digest
    ``sha256:test``, a ``model/weights.txt`` artifact holding the value) registered as a new version."""
    counter = iter(range(1_000_000))

    def log(registry: Registry, model: str, metric: str, value: float) -> ResolvedVersion:
        weights = tmp_path / f"weights-{next(counter)}"
        weights.mkdir()
        (weights / "weights.txt").write_text(f"{metric}={value}")
        with registry.start_run(model, params={"lr": 0.1}, dataset_digest="sha256:test") as run:
            mlflow.log_metric(metric, value)
            mlflow.log_artifacts(str(weights), "model")
        return registry.register(run.info.run_id, "model", model, description=f"{metric} {value}")

    return log
