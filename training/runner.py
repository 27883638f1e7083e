"""Train one model end to end: Ray Train on the workers, then evaluate, export and version on the driver.

``fit`` is the Ray part (shared with ``yard tune``); ``train`` adds the driver part: evaluation,
baseline, TorchScript/Triton export, an MLflow run with per-epoch metrics and the version folder,
registration, the promotion gate against the current champion and, when ``model_store_uri`` is
set, publishing the version's Triton repository where KServe reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from modelyard.artifact.layout import PLOT_FILE, PROFILE_FILE
from modelyard.errors import ModelyardError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings
from training.base import TaskData, TrainTask
from training.cluster import cuda_available
from training.export import write_version
from training.feedback import read_labelled
from training.loop import load_model_weights, train_loop_per_worker
from training.options import TrainedModel, TrainOptions
from training.progress import epoch_progress
from training.tasks import get_task

log = logging.getLogger(__name__)

RAY_RESULTS = "ray_results"
CHECKPOINTS_KEPT = 2


class TrainingFailed(ModelyardError):
    """A Ray Train worker raised; the last checkpoint is kept for a resume."""


@dataclass
class TrainOutcome:
    """One finished ``yard train <model>``: the version, its numbers and the gate's verdict."""

    model: str
    version: int
    run_id: str
    headline_metric: str
    higher_is_better: bool
    metrics: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    champion_version: int | None
    alias: str | None
    reason: str
    epochs: int
    resumed_from_epoch: int
    train_seconds: float
    total_seconds: float
    artifacts: list[str]
    storage_uri: str | None = None
    """Where the version's Triton repository was published (None: no model store is set)."""


def resolve_config(task: TrainTask, options: TrainOptions) -> dict[str, Any]:
    unknown = set(options.overrides) - set(task.default_config)
    if unknown:
        raise UsageError(
            f"{task.name} has no config keys {sorted(unknown)}", hint=f"use {sorted(task.default_config)}"
        )
    config = {**task.default_config, **options.overrides}
    if options.epochs is not None:
        config["epochs"] = options.epochs
    if options.batch_size is not None:
        config["batch_size"] = options.batch_size
    return config


def ray_run_name(
    task: TrainTask, config: dict[str, Any], smoke: bool, feedback_digest: str | None = None
) -> str:
    """Stable per model + config (epochs excluded) + feedback file, so re-running after an
    interruption, or asking for more epochs, finds the same checkpoints."""
    identity: dict[str, Any] = {"config": {key: value for key, value in config.items() if key != "epochs"}}
    identity["smoke"] = smoke
    if feedback_digest is not None:  # other data: never resume a run trained without it
        identity["feedback"] = feedback_digest
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{task.name}{'-smoke' if smoke else ''}-{digest[:10]}"


def to_ray_dataset(columns: dict[str, np.ndarray]) -> Any:
    """Columns -> an in-memory Ray Dataset (multi-dim columns as Arrow fixed-shape tensors), put
    in the object store once and streamed to the workers' shards."""
    # lazy: pyarrow, ray takes seconds to import; only this path needs it
    import pyarrow as pa
    import ray.data

    def arrow(values: np.ndarray) -> pa.Array:
        if values.ndim == 1:
            return pa.array(values)
        return pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(values))

    return ray.data.from_arrow(pa.table({name: arrow(values) for name, values in columns.items()}))


def ray_storage(settings: Settings) -> str:
    """Ray Train's ``storage_path``: ``ray_storage_uri`` (a store every Ray node reaches) or, on a
    single node, ``<state_dir>/ray_results``."""
    return settings.ray_storage_uri or str(settings.state_dir / RAY_RESULTS)


def _storage_fs(storage: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) of a storage folder or URI (``s3://b/p?endpoint_override=..``)."""
    # lazy: pyarrow takes seconds to import; only this path needs it
    import pyarrow.fs

    if "://" in storage:
        return pyarrow.fs.FileSystem.from_uri(storage)
    return pyarrow.fs.LocalFileSystem(), storage


def _checkpoint_epoch(fs: Any, run_dir: str) -> int | None:
    """The last checkpointed epoch of an earlier job with this run name (None: nothing usable)."""
    # lazy: pyarrow, ray takes seconds to import; only this path needs it
    import pyarrow.fs
    from ray.train import Result

    if fs.get_file_info(run_dir).type == pyarrow.fs.FileType.NotFound:
        return None
    try:
        metrics = Result.from_path(run_dir, storage_filesystem=fs).metrics
    except RuntimeError:
        return None
    return int(metrics["epoch"]) if metrics else None


def prepare_run_dir(storage: str, name: str, epochs: int, resume: bool) -> int:
    """Keep an unfinished earlier job's checkpoints (resume) or clear its folder under ``storage``;
    returns the epoch training continues after (0 = from scratch). A finished job is never resumed:
    a new job retrains."""
    # lazy: pyarrow takes seconds to import; only this path needs it
    import pyarrow.fs

    fs, base = _storage_fs(storage)
    run_dir = f"{base.rstrip('/')}/{name}"
    done = _checkpoint_epoch(fs, run_dir)
    if resume and done is not None and done < epochs:
        return done
    if fs.get_file_info(run_dir).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(run_dir)
    return 0


def fit(
    task: TrainTask,
    data: TaskData,
    config: dict[str, Any],
    options: TrainOptions,
    settings: Settings,
    console: Console,
) -> TrainedModel:
    """Run the generic loop on ``options.workers`` Ray Train workers and load the final weights."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    storage = ray_storage(settings)
    name = ray_run_name(task, config, options.smoke, data.meta.get("feedback", {}).get("digest"))
    resumed_from = prepare_run_dir(storage, name, config["epochs"], options.resume)
    if resumed_from:
        console.print(f"[yellow]resuming[/] {name} from its checkpoint after epoch {resumed_from}")
    use_gpu = options.gpu and ray.cluster_resources().get("GPU", 0) > 0
    if options.gpu and not use_gpu:
        console.print("[yellow]warning:[/] --gpu asked but this Ray cluster has no GPU: training on CPU")
    worker_cpus, threads = worker_share(options.workers)
    rows_per_worker = _rows(data.train) // options.workers
    started = time.monotonic()
    with epoch_progress(
        console, task.name, config["epochs"], rows_per_worker, options.show_progress
    ) as queue:
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={
                "task": task.name,
                "config": config,
                "meta": data.meta,
                "threads_per_worker": threads,
                "rows_per_worker": rows_per_worker,
                "progress": queue,
            },
            scaling_config=ScalingConfig(
                num_workers=options.workers,
                use_gpu=use_gpu,
                resources_per_worker={"CPU": worker_cpus},
            ),
            datasets={"train": to_ray_dataset(data.train), "val": to_ray_dataset(data.val)},
            run_config=RunConfig(
                name=name,
                storage_path=storage,
                checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            ),
        )
        result = _fit_or_raise(trainer, name)
    seconds = time.monotonic() - started
    if result.checkpoint is None:
        raise TrainingFailed(f"{name} finished without a checkpoint", hint="rerun with --no-resume")
    model = task.build_model(config, data.meta)
    with result.checkpoint.as_directory() as directory:
        history = load_model_weights(Path(directory), model)
    event(log, "train_fitted", model=task.name, ray_run=name, epochs=len(history), seconds=round(seconds, 1))
    return TrainedModel(model, config, history, name, resumed_from, seconds)


def worker_share(workers: int, reserved_cpus: float = 0.0) -> tuple[float, int]:
    """(CPUs to request, torch threads) per worker: an equal share of the cluster's CPUs, at most
    one CPU requested each so that more workers than CPUs still get scheduled."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray

    cpus = ray.cluster_resources().get("CPU", 1.0) - reserved_cpus
    return min(1.0, cpus / workers), max(1, int(cpus // workers))


def _fit_or_raise(trainer: Any, name: str) -> Any:
    # lazy: ray takes seconds to import; only this path needs it
    from ray.train import TrainingFailedError

    try:
        return trainer.fit()
    except TrainingFailedError as exc:
        raise TrainingFailed(
            f"training {name} failed: {exc}",
            hint="fix the error above; the last checkpoint is kept, so rerunning resumes from it",
        ) from exc


def driver_device(settings: Settings) -> torch.device:
    if settings.device == "cuda" and not cuda_available():
        raise UsageError(
            "MODELYARD_DEVICE=cuda but this machine has no CUDA", hint="set MODELYARD_DEVICE=auto or cpu"
        )
    return torch.device("cuda" if settings.device != "cpu" and cuda_available() else "cpu")


def train(model_name: str, options: TrainOptions, settings: Settings, console: Console) -> TrainOutcome:
    """``yard train <model>``: Ray training, then evaluation, export, MLflow version, gate and
    publishing to the model store (checked first, so a wrong store fails before training).

    Ray must be up (see ``training.cluster.ray_session``).
    """
    # lazy: the registry loads mlflow (seconds); only this path needs it
    from modelyard.registry import Registry, probe_store, publish_version
    from training.versioning import version_and_gate

    started = time.monotonic()
    task = get_task(model_name)
    config = resolve_config(task, options)
    if settings.model_store_uri:
        probe_store(settings.model_store_uri)
    with console.status(f"{task.name}: preparing data"):
        data = task.prepare(settings, options.smoke)
        if options.feedback is not None:
            data = task.with_feedback(data, read_labelled(options.feedback))
    trained = fit(task, data, config, options, settings, console)

    device = driver_device(settings)
    with console.status(f"{task.name}: evaluating on {device}"):
        trained.model = task.finalize(trained.model, data, config)
        evaluation = task.evaluate(trained.model.to(device), data, config)
        baseline = task.baseline(data)
    with console.status(f"{task.name}: profiling the validation split"):
        profiling_started = time.monotonic()
        profile = task.profile(trained.model, data, evaluation)
        event(log, "train_profiled", model=task.name, seconds=round(time.monotonic() - profiling_started, 2))
    with (
        console.status(f"{task.name}: exporting and versioning") as status,
        tempfile.TemporaryDirectory() as tmp,
    ):
        version_dir = Path(tmp)
        exported, preprocessing = task.export(trained.model.cpu(), data, config)
        write_version(
            version_dir,
            exported,
            preprocessing,
            config=version_config(task, data, trained, options),
            report={
                "model": task.name,
                "headline_metric": task.headline_metric,
                "higher_is_better": task.higher_is_better,
                "metrics": evaluation.metrics,
                "baseline": baseline,
                "history": trained.history,
                "curves": evaluation.curves,
            },
            artifacts=evaluation.artifacts | ({Path(PROFILE_FILE).stem: profile} if profile else {}),
        )
        task.plot(evaluation, version_dir / PLOT_FILE)
        artifacts = sorted(str(p.relative_to(version_dir)) for p in version_dir.rglob("*") if p.is_file())
        versioned = version_and_gate(
            task, data, trained, evaluation, baseline, version_dir, options, settings
        )
        storage_uri = None
        if settings.model_store_uri:  # a failure raises; the version stays registered and gated
            number = versioned.version.version
            status.update(f"{task.name}: publishing v{number} to {settings.model_store_uri}")
            storage_uri = publish_version(
                Registry(settings), task.name, number, settings.model_store_uri, version_dir
            )
    return TrainOutcome(
        model=task.name,
        version=versioned.version.version,
        run_id=versioned.version.run_id,
        headline_metric=task.headline_metric,
        higher_is_better=task.higher_is_better,
        metrics=evaluation.metrics,
        baseline=baseline,
        champion=versioned.champion_metrics,
        champion_version=versioned.champion_version,
        alias=versioned.decision.alias,
        reason=versioned.decision.reason,
        epochs=len(trained.history),
        resumed_from_epoch=trained.resumed_from_epoch,
        train_seconds=round(trained.seconds, 1),
        total_seconds=round(time.monotonic() - started, 1),
        artifacts=artifacts,
        storage_uri=storage_uri,
    )


def version_config(
    task: TrainTask, data: TaskData, trained: TrainedModel, options: TrainOptions
) -> dict[str, Any]:
    """config.json: everything needed to reproduce or audit the version."""
    return {
        "model": task.name,
        "config": trained.config,
        "meta": data.meta,
        "dataset_digest": data.digest,
        "rows": {
            split: _rows(columns)
            for split, columns in (("train", data.train), ("val", data.val), ("test", data.test))
        },
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in asdict(options).items()
            if k != "show_progress"
        },
        "ray_run": trained.ray_run,
        "resumed_from_epoch": trained.resumed_from_epoch,
        "train_seconds": round(trained.seconds, 1),
        "torch": torch.__version__,
    }


def _rows(columns: dict[str, np.ndarray]) -> int:
    return len(next(iter(columns.values())))
