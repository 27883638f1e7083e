"""The registry against a real ``mlflow server`` process, and its fail-fast path when none runs."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest

from modelyard.errors import NotFoundError, UnavailableError
from modelyard.registry import Registry, ResolvedVersion
from modelyard.settings import Settings

pytestmark = pytest.mark.integration

MODEL = "moderation"


@pytest.fixture(scope="module")
def server_registry(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    state = tmp_path_factory.mktemp("state")
    return Registry(Settings(state_dir=state, mlflow_tracking_uri=mlflow_server))


def train_version(registry: Registry, workdir: Path, f1: float) -> ResolvedVersion:
    """Log a run with a weights folder and an ``f1`` metric through the server, then register it."""
    weights = workdir / f"weights-{f1}"
    weights.mkdir()
    (weights / "model.txt").write_text(f"f1={f1}")
    with registry.start_run(MODEL, dataset_digest="sha256:server") as run:
        mlflow.log_metric("f1", f1)
        mlflow.log_artifacts(str(weights), "model")
    return registry.register(run.info.run_id, "model", MODEL)


@pytest.mark.slow
def test_lifecycle_through_the_server(server_registry: Registry, mlflow_server: str, tmp_path: Path) -> None:
    first = train_version(server_registry, tmp_path, 0.90)
    assert first.source.startswith("mlflow-artifacts:/")  # artifacts went through the server
    assert first.tags["modelyard.dataset_digest"] == "sha256:server"
    assert server_registry.gate(MODEL, first.version, "f1", higher_is_better=True).alias == "champion"

    second = train_version(server_registry, tmp_path, 0.92)
    assert server_registry.gate(MODEL, second.version, "f1", higher_is_better=True).alias == "challenger"
    assert server_registry.resolve(f"{MODEL}@challenger").metrics == {"f1": 0.92}

    server_registry.promote(MODEL)
    assert server_registry.resolve(MODEL).version == second.version
    assert server_registry.resolve(f"{MODEL}@previous").version == first.version

    local = server_registry.download(f"{MODEL}/{second.version}", tmp_path / "download")
    assert (local / "model.txt").read_text() == "f1=0.92"

    server_registry.rollback(MODEL)
    assert server_registry.resolve(MODEL).version == first.version
    summary = next(s for s in server_registry.list_models() if s.name == MODEL)
    assert summary.aliases == {"champion": first.version}
    assert summary.metrics["champion"] == {"f1": 0.90}
    with pytest.raises(NotFoundError, match="previous"):
        server_registry.resolve(f"{MODEL}@previous")


def test_dead_server_fails_fast_with_the_setting_to_fix(mlflow_dead_uri: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(UnavailableError) as failure:
        Registry(Settings(state_dir=tmp_path, mlflow_tracking_uri=mlflow_dead_uri))
    assert time.monotonic() - started < 5
    assert "MODELYARD_MLFLOW_TRACKING_URI" in failure.value.hint


def test_server_lost_mid_session_becomes_unavailable_error(mlflow_dead_uri: str) -> None:
    """Past the start-up probe, MLflow's own connection failure is translated, retries capped."""
    from mlflow import MlflowClient

    from modelyard.registry.connection import mlflow_errors

    started = time.monotonic()
    with pytest.raises(UnavailableError, match=mlflow_dead_uri), mlflow_errors(mlflow_dead_uri):
        MlflowClient(mlflow_dead_uri, mlflow_dead_uri).search_registered_models()
    assert time.monotonic() - started < 15
