"""``yard tune``: Ray Tune over a task's ``search_space()``, each trial a short Ray Train job.

Trials run one at a time (each already uses ``--workers`` Ray Train workers) and are ranked by
their final validation loss; a task's search space must therefore leave the loss's definition
alone (no temperature or loss weights). The best trial's config is then trained in full and
registered like any other run (``training.runner.train`` with it as overrides), so a tuned version
carries the same evaluation, export and gate as every other version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from modelyard.errors import UsageError
from modelyard.settings import Settings
from training.base import TrainTask
from training.loop import train_loop_per_worker
from training.options import TrainOptions
from training.runner import ray_storage, resolve_config, to_ray_dataset, worker_share
from training.tasks import get_task

OBJECTIVE = "val_loss"
TRIAL_DRIVER_CPUS = 0.01
"""A Tune trial only drives its Ray Train job (Tune refuses 0); the workers hold the real CPUs."""


@dataclass(frozen=True)
class TuneOutcome:
    model: str
    best_config: dict[str, Any]
    """Only the searched keys (the overrides to train with)."""
    best_val_loss: float
    trials: list[dict[str, Any]]
    """Each trial's searched values and final val_loss, best first."""


def check_trials(trials: int) -> None:
    if trials < 1:
        raise UsageError(f"--trials is {trials}", hint="give --trials 1 or more")


def trial_epochs(task: TrainTask, options: TrainOptions) -> int:
    """--epochs when given, else half the task's default: a trial only has to rank configs."""
    return options.epochs or max(1, math.ceil(task.default_config["epochs"] / 2))


def _run_trial(
    trial_config: dict[str, Any],
    *,
    task_name: str,
    base_config: dict[str, Any],
    meta: dict[str, Any],
    datasets: dict[str, Any],
    workers: int,
    worker_cpus: float,
    storage: str,
) -> None:
    """One Tune trial: a Ray Train job with the trial's values; Train's reports reach Tune."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray.tune
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"task": task_name, "config": {**base_config, **trial_config}, "meta": meta},
        scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": worker_cpus}),
        datasets=datasets,
        run_config=RunConfig(
            name=ray.tune.get_context().get_trial_id(), storage_path=storage, callbacks=[TuneReportCallback()]
        ),
    )
    trainer.fit()


def tune(
    model_name: str, trials: int, options: TrainOptions, settings: Settings, console: Console
) -> TuneOutcome:
    """Search ``trials`` configs; Ray must be up (``training.cluster.ray_session``)."""
    # lazy: ray takes seconds to import; only this path needs it
    from ray import tune as ray_tune

    check_trials(trials)
    task = get_task(model_name)
    space = task.search_space()
    base_config = {**resolve_config(task, options), "epochs": trial_epochs(task, options)}
    with console.status(f"{task.name}: preparing data"):
        data = task.prepare(settings, options.smoke)
    storage = ray_storage(settings)
    trainable = ray_tune.with_parameters(
        _run_trial,
        task_name=task.name,
        base_config=base_config,
        meta=data.meta,
        datasets={"train": to_ray_dataset(data.train), "val": to_ray_dataset(data.val)},
        workers=options.workers,
        worker_cpus=worker_share(options.workers, reserved_cpus=TRIAL_DRIVER_CPUS)[0],
        storage=storage,
    )
    tuner = ray_tune.Tuner(
        ray_tune.with_resources(trainable, {"cpu": TRIAL_DRIVER_CPUS}),
        param_space=space,
        tune_config=ray_tune.TuneConfig(
            num_samples=trials, metric=OBJECTIVE, mode="min", max_concurrent_trials=1
        ),
        run_config=ray_tune.RunConfig(name=f"tune-{task.name}", storage_path=storage, verbose=0),
    )
    with console.status(f"{task.name}: tuning {trials} trials x {base_config['epochs']} epochs"):
        grid = tuner.fit()
    finished = [r for r in grid if r.error is None and r.metrics and OBJECTIVE in r.metrics]
    if not finished:
        errors = "; ".join(str(r.error) for r in grid if r.error is not None)
        raise UsageError(
            f"no {task.name} trial finished: {errors}", hint="try --smoke or fewer --trials to debug"
        )
    finished.sort(key=lambda r: r.metrics[OBJECTIVE])
    rows = [{**{k: r.config[k] for k in space}, OBJECTIVE: r.metrics[OBJECTIVE]} for r in finished]
    return TuneOutcome(
        model=task.name,
        best_config={k: finished[0].config[k] for k in space},
        best_val_loss=finished[0].metrics[OBJECTIVE],
        trials=rows,
    )
