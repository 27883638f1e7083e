"""The registry on real MLflow over a temporary sqlite file: no server, no mocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from modelyard import __version__
from modelyard.errors import NotFoundError, UsageError
from modelyard.registry import Registry, ResolvedVersion
from modelyard.settings import Settings

MODEL = "ranking"
LogVersion = Callable[..., ResolvedVersion]  # the conftest fixture


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    state = tmp_path_factory.mktemp("state")
    return Registry(Settings(state_dir=state, mlflow_tracking_uri=None, mlflow_artifact_root=None))


def test_run_has_lineage_and_artifacts_stay_under_state(registry: Registry, log_version: LogVersion) -> None:
    version = log_version(registry, "lineage-check", "auc", 0.70)
    tags = mlflow.get_run(version.run_id).data.tags
    assert tags["modelyard.dataset_digest"] == "sha256:test"
    assert tags["modelyard.model"] == "lineage-check"
    assert tags["modelyard.version"] == __version__
    assert tags["modelyard.git_commit"]
    assert tags["modelyard.git_dirty"] in {"true", "false", "unknown"}
    assert version.tags["modelyard.dataset_digest"] == "sha256:test"  # copied onto the version
    assert version.params == {"lr": "0.1"}
    assert version.source.startswith(registry.settings.mlflow_artifact_root.as_uri())


def test_register_refuses_a_missing_artifact_folder(registry: Registry) -> None:
    with registry.start_run("empty") as run:
        mlflow.log_metric("auc", 0.5)
    with pytest.raises(NotFoundError, match="no artifacts"):
        registry.register(run.info.run_id, "model", "empty")


def test_lifecycle_gate_promote_rollback(registry: Registry, log_version: LogVersion) -> None:
    first = log_version(registry, MODEL, "auc", 0.70)
    assert first.version == 1 and first.metrics == {"auc": 0.70}

    assert registry.gate(MODEL, 1, "auc", higher_is_better=True).alias == "champion"
    second = log_version(registry, MODEL, "auc", 0.75)
    decision = registry.gate(MODEL, second.version, "auc", higher_is_better=True)
    assert (decision.alias, decision.champion, decision.candidate) == ("challenger", 0.70, 0.75)
    worse = log_version(registry, MODEL, "auc", 0.60)
    assert registry.gate(MODEL, worse.version, "auc", higher_is_better=True, tolerance=0.05).alias is None
    assert registry.resolve(f"{MODEL}/{worse.version}").tags["modelyard.gate.decision"] == "rejected"
    assert mlflow.get_run(worse.run_id).data.tags["modelyard.gate.decision"] == "rejected"

    assert registry.resolve(MODEL).version == 1
    assert registry.resolve(f"{MODEL}@challenger").version == 2

    move = registry.promote(MODEL)
    assert move.after == {"champion": 2, "previous": 1}
    assert registry.resolve(f"{MODEL}@champion").aliases == ["champion"]
    assert registry.resolve(f"{MODEL}@previous").version == 1
    with pytest.raises(NotFoundError, match="challenger"):
        registry.promote(MODEL)

    move = registry.rollback(MODEL)
    assert move.champion == 1 and move.after == {"champion": 1}
    assert registry.resolve(f"{MODEL}/2").tags["modelyard.rolled_back"] == "true"
    with pytest.raises(NotFoundError, match="previous"):
        registry.rollback(MODEL)


def test_resolve_errors_list_what_exists(registry: Registry, log_version: LogVersion) -> None:
    log_version(registry, "hinted", "auc", 0.5)
    with pytest.raises(NotFoundError) as missing_alias:
        registry.resolve("hinted@challenger")
    assert "versions: 1" in missing_alias.value.hint
    with pytest.raises(NotFoundError) as missing_version:
        registry.resolve("hinted/9")
    assert "versions: 1" in missing_version.value.hint
    with pytest.raises(NotFoundError) as missing_model:
        registry.resolve("no-such-model")
    assert "hinted" in missing_model.value.hint
    with pytest.raises(UsageError):
        registry.resolve("hinted@prod")


def test_aliases_set_and_delete(registry: Registry, log_version: LogVersion) -> None:
    version = log_version(registry, "aliased", "auc", 0.6)
    registry.set_alias("aliased", "challenger", version.version)
    assert registry.resolve("aliased@challenger").version == version.version
    registry.delete_alias("aliased", "challenger")
    with pytest.raises(NotFoundError):
        registry.delete_alias("aliased", "challenger")
    with pytest.raises(UsageError):
        registry.set_alias("aliased", "staging", version.version)
    with pytest.raises(NotFoundError):
        registry.set_alias("aliased", "champion", 42)


def test_gate_needs_a_logged_metric(registry: Registry, log_version: LogVersion) -> None:
    version = log_version(registry, "metricless", "auc", 0.6)
    with pytest.raises(UsageError, match="no metric 'accuracy'"):
        registry.gate("metricless", version.version, "accuracy", higher_is_better=True)


def test_list_models_and_download(registry: Registry, log_version: LogVersion, tmp_path: Path) -> None:
    first = log_version(registry, "listed", "auc", 0.81)
    registry.gate("listed", first.version, "auc", higher_is_better=True)
    second = log_version(registry, "listed", "auc", 0.83)
    registry.gate("listed", second.version, "auc", higher_is_better=True)

    summary = next(s for s in registry.list_models() if s.name == "listed")
    assert (summary.latest_version, summary.version_count) == (2, 2)
    assert summary.aliases == {"champion": 1, "challenger": 2}
    assert summary.metrics == {"champion": {"auc": 0.81}, "challenger": {"auc": 0.83}}
    assert summary.headline_metric == "auc"

    local = registry.download("listed@challenger", tmp_path / "download")
    assert (local / "weights.txt").read_text() == "auc=0.83"
    assert [v.version for v in registry.versions("listed")] == [1, 2]


def test_gate_on_a_recent_window_records_it_and_keeps_the_alias_off(
    registry: Registry, log_version: LogVersion
) -> None:
    """Better on the held-out metric but worse on the recent window: rejected, numbers tagged."""
    log_version(registry, "windowed", "pr_auc", 0.98)
    assert registry.gate("windowed", 1, "pr_auc", higher_is_better=True).alias == "champion"
    log_version(registry, "windowed", "pr_auc", 0.99)
    decision = registry.gate("windowed", 2, "pr_auc", True, windows={"recent": (0.5, 0.9)})
    assert decision.alias is None and decision.reason.startswith("recent window")
    tags = registry.resolve("windowed/2").tags
    assert tags["modelyard.gate.decision"] == "rejected"
    assert (tags["modelyard.gate.recent.candidate"], tags["modelyard.gate.recent.champion"]) == ("0.5", "0.9")
    assert all("challenger" not in v.aliases for v in registry.versions("windowed"))
