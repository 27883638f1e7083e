"""The MLflow side of a training job: one run with params, per-epoch and final metrics and the
version folder, then a registered version and the promotion gate against the current champion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.artifact.layout import MLFLOW_ARTIFACT_PATH
from modelyard.errors import NotFoundError
from modelyard.registry import GateDecision, Registry, ResolvedVersion
from modelyard.settings import Settings
from training.base import Evaluation, TaskData, TrainTask
from training.options import TrainedModel, TrainOptions

RAY_RUN_TAG = "modelyard.ray_run"
FEEDBACK_ARTIFACT_PATH = "lineage"
"""Run artifact folder of the feedback file a retrained version learned from."""
SMOKE_TAG = "modelyard.smoke"


@dataclass(frozen=True)
class Versioned:
    version: ResolvedVersion
    decision: GateDecision
    champion_metrics: dict[str, float] | None
    """Run metrics of the champion before this gate (None: there was none)."""
    champion_version: int | None


def version_and_gate(
    task: TrainTask,
    data: TaskData,
    trained: TrainedModel,
    evaluation: Evaluation,
    baseline: dict[str, float],
    version_dir: Path,
    options: TrainOptions,
    settings: Settings,
) -> Versioned:
    # lazy: mlflow takes seconds to import; only this path needs it
    import mlflow

    registry = Registry(settings)
    champion = current_champion(registry, task.name)
    params = {**trained.config, "workers": options.workers, "smoke": options.smoke}
    tags = {RAY_RUN_TAG: trained.ray_run, SMOKE_TAG: str(options.smoke).lower()}
    with registry.start_run(
        task.name, run_name=trained.ray_run, params=params, tags=tags, dataset_digest=data.digest
    ) as run:
        for row in trained.history:
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        mlflow.log_metrics(evaluation.metrics)
        mlflow.log_metrics({f"baseline_{name}": value for name, value in baseline.items()})
        mlflow.log_metric("train_seconds", trained.seconds)
        mlflow.log_artifacts(str(version_dir), artifact_path=MLFLOW_ARTIFACT_PATH)
        if options.feedback is not None:  # lineage: the labelled rows this version learned from
            mlflow.log_params({f"feedback_{key}": value for key, value in data.meta["feedback"].items()})
            mlflow.log_artifact(str(options.feedback), artifact_path=FEEDBACK_ARTIFACT_PATH)
        run_id = run.info.run_id
    version = registry.register(
        run_id,
        MLFLOW_ARTIFACT_PATH,
        task.name,
        tags=tags,
        description=_description(task, evaluation, baseline),
    )
    decision = _gate(registry, task, version, champion, evaluation, options)
    return Versioned(
        version=version,
        decision=decision,
        champion_metrics=champion.metrics if champion else None,
        champion_version=champion.version if champion else None,
    )


def _gate(
    registry: Registry,
    task: TrainTask,
    version: ResolvedVersion,
    champion: ResolvedVersion | None,
    evaluation: Evaluation,
    options: TrainOptions,
) -> GateDecision:
    """The registry's gate, but only between runs of the same kind: smoke metrics (a subset,
    a few epochs) say nothing against full-data ones."""
    champion_is_smoke = champion is not None and champion.tags.get(SMOKE_TAG) == "true"
    if champion is None or champion_is_smoke == options.smoke:
        return registry.gate(
            task.name,
            version.version,
            task.headline_metric,
            task.higher_is_better,
            options.tolerance,
            recent_window(evaluation.metrics, task.headline_metric),
        )
    candidate = evaluation.metrics[task.headline_metric]
    previous = champion.metrics.get(task.headline_metric)
    if options.smoke:
        reason = "a smoke run is not compared with a full-data champion"
        return GateDecision(None, reason, candidate, previous)
    registry.set_alias(task.name, "previous", champion.version)
    registry.set_alias(task.name, "champion", version.version)
    return GateDecision("champion", "a full-data run supersedes a smoke champion", candidate, previous)


def recent_window(metrics: dict[str, float], metric: str) -> dict[str, tuple[float, float]]:
    """The recent labelled window to gate on, when the task measured the candidate and the
    serving version on it (``recent_<metric>``, ``recent_champion_<metric>``)."""
    candidate, champion = metrics.get(f"recent_{metric}"), metrics.get(f"recent_champion_{metric}")
    return {} if candidate is None or champion is None else {"recent": (candidate, champion)}


def current_champion(registry: Registry, model: str) -> ResolvedVersion | None:
    try:
        return registry.resolve(f"{model}@champion")
    except NotFoundError:
        return None


def _description(task: TrainTask, evaluation: Evaluation, baseline: dict[str, Any]) -> str:
    metric = task.headline_metric
    baseline_value = baseline.get(metric, float("nan"))
    return f"{task.name}: {metric} {evaluation.metrics[metric]:.4f} (baseline {baseline_value:.4f})"
