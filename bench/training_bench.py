"""Training throughput: a plain single-process torch loop vs Ray TorchTrainer with 1 and 2 workers.

Same task, model, data, config and epoch structure (train pass + validation pass) for all three:
the plain loop calls the task's ``build_model``/``augment``/``loss`` exactly as
``training.loop.train_loop_per_worker`` does, without Ray Data, DDP or checkpoints, so the ratios
are Ray's overhead on this machine. The plain loop also runs on one torch thread, as a control: ray-2
has one thread per worker, and on a busy machine intra-op threads alone change speed a lot. Variants
run one after the other (plain, plain-1t, ray-1, ray-2), so a load swing mid-run biases them.
Full mode also times ``yard train``'s pipeline with each model's default config (the issue asks for
under 5 minutes each on 2 cores).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rich.console import Console

from bench.schema import add_bar_chart, add_ratio, add_table, new_result
from bench.state import bench_settings, variant_settings
from modelyard.settings import Settings
from training.base import TaskData, TrainTask
from training.tasks import TASKS, get_task

NAME = "training"
EPOCHS = {True: 2, False: 3}
"""Per variant, quick / full: the first epoch is warm-up (Ray workers, data pipeline), the rest give
steady state (quick mode: a single steady epoch, to stay within its 10 minutes)."""
DEFAULT_CONFIG_BUDGET_S = 300.0
CORES = os.cpu_count() or 1
VARIANTS = ("plain", "plain-1t", "ray-1", "ray-2")
"""plain-1t (the plain loop on one torch thread) is a control: ray-2 runs one thread per worker, so it
separates what intra-op threads cost or bring from what Ray does."""

console = Console(stderr=True)


@dataclass(frozen=True)
class Throughput:
    """One variant's timings on one model."""

    variant: str
    rows: int
    """Train examples per epoch (the same for every variant)."""
    epoch_seconds: list[float]
    """Train + validation pass, per epoch, as the loop measures it."""
    wall_seconds: float
    """Everything: model build, data hand-off, worker start-up, every epoch, checkpoints."""

    @property
    def steady_samples_per_second(self) -> float:
        steady = self.epoch_seconds[1:] or self.epoch_seconds
        return self.rows / statistics.median(steady)

    @property
    def end_to_end_samples_per_second(self) -> float:
        return self.rows * len(self.epoch_seconds) / self.wall_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "rows": self.rows,
            "epoch_seconds": [round(s, 3) for s in self.epoch_seconds],
            "wall_seconds": round(self.wall_seconds, 2),
            "steady_samples_per_second": round(self.steady_samples_per_second, 1),
            "end_to_end_samples_per_second": round(self.end_to_end_samples_per_second, 1),
        }


def plain_loop(task: TrainTask, data: TaskData, config: dict[str, Any], threads: int) -> Throughput:
    """The single-process baseline: tensors in memory, shuffled index batches, ``threads`` torch threads."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _plain_epochs(task, data, config, "plain" if threads == CORES else f"plain-{threads}t")
    finally:
        torch.set_num_threads(previous_threads)


def _plain_epochs(task: TrainTask, data: TaskData, config: dict[str, Any], variant: str) -> Throughput:
    started = time.monotonic()
    torch.manual_seed(config.get("seed", 0))
    model = task.build_model(config, data.meta)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config.get("weight_decay", 0.0)
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    train, val = _tensors(data.train), _tensors(data.val)
    rows, batch_size = _rows(data.train), config["batch_size"]
    epoch_seconds = []
    for _ in range(config["epochs"]):
        epoch_started = time.monotonic()
        model.train()
        order = torch.randperm(rows)
        for start in range(0, rows - batch_size + 1, batch_size):  # drop_last, as the Ray loop
            batch = {name: column[order[start : start + batch_size]] for name, column in train.items()}
            loss = task.loss(model, task.augment(batch, config), config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            for start in range(0, _rows(data.val), batch_size):
                task.loss(
                    model, {name: column[start : start + batch_size] for name, column in val.items()}, config
                )
        epoch_seconds.append(time.monotonic() - epoch_started)
    return Throughput(variant, rows, epoch_seconds, time.monotonic() - started)


def ray_fit(
    task: TrainTask, data: TaskData, config: dict[str, Any], workers: int, settings: Settings
) -> Throughput:
    """``training.runner.fit`` as ``yard train`` runs it (no resume, no progress bars)."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from training.options import TrainOptions
    from training.runner import fit

    options = TrainOptions(workers=workers, epochs=config["epochs"], resume=False, show_progress=False)
    started = time.monotonic()
    trained = fit(task, data, config, options, settings, Console(quiet=True))
    wall = time.monotonic() - started
    return Throughput(
        f"ray-{workers}", _rows(data.train), [h["epoch_seconds"] for h in trained.history], wall
    )


def measure_model(name: str, smoke: bool, settings: Settings) -> list[Throughput]:
    task = get_task(name)
    config = {**task.default_config, "epochs": EPOCHS[smoke]}
    with console.status(f"{name}: preparing {'smoke' if smoke else 'full'} data"):
        data = task.prepare(settings, smoke)
    variants = []
    for threads in dict.fromkeys((CORES, 1)):
        variants.append(plain_loop(task, data, config, threads))
        _print(name, variants[-1])
    for workers in (1, 2):
        variants.append(ray_fit(task, data, config, workers, variant_settings(settings, f"ray-{workers}")))
        _print(name, variants[-1])
    return variants


def default_config_run(name: str, settings: Settings) -> dict[str, Any]:
    """``yard train <name>`` with the default config on the full data: Ray fit, evaluation, export, MLflow."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from training.options import TrainOptions
    from training.runner import train

    started = time.monotonic()
    outcome = train(name, TrainOptions(resume=False, show_progress=False), settings, Console(quiet=True))
    seconds = time.monotonic() - started
    console.print(f"{name} default config: {seconds:.0f} s ({outcome.epochs} epochs)")
    return {
        "model": name,
        "epochs": outcome.epochs,
        "train_seconds": outcome.train_seconds,
        "total_seconds": round(seconds, 1),
        "headline_metric": outcome.headline_metric,
        "headline_value": outcome.metrics.get(outcome.headline_metric),
    }


@contextmanager
def timed_ray(settings: Settings) -> Iterator[float]:
    """A local Ray for the whole benchmark; yields how long ``ray.init`` took."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from training.cluster import ray_session

    started = time.monotonic()
    with ray_session(settings):
        yield time.monotonic() - started


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry: quick = smoke data; full = full data, plus each default-config ``yard train``."""
    settings = bench_settings()
    measured: dict[str, list[Throughput]] = {}
    default_runs = []
    with timed_ray(settings) as ray_init_seconds:
        console.print(f"ray.init: {ray_init_seconds:.1f} s")
        for name in TASKS:
            measured[name] = measure_model(name, smoke=quick, settings=settings)
        if not quick:
            default_runs = [default_config_run(name, settings) for name in TASKS]
    return as_result(measured, default_runs, ray_init_seconds, quick)


def as_result(
    measured: dict[str, list[Throughput]],
    default_runs: list[dict[str, Any]],
    ray_init_seconds: float,
    quick: bool,
) -> dict[str, Any]:
    models, epochs = list(measured), EPOCHS[quick]
    variants = [v for v in VARIANTS if v in {t.variant for t in measured[models[0]]}]
    steady = {m: {t.variant: t.steady_samples_per_second for t in measured[m]} for m in models}
    wall = {m: {t.variant: t.wall_seconds for t in measured[m]} for m in models}
    result = new_result(
        NAME,
        "Training throughput: plain torch loop vs Ray TorchTrainer (1 and 2 workers)",
        " ".join(
            [
                f"Train samples/s per model on {'the smoke subset' if quick else 'the full data'},",
                f"{epochs} epochs per variant, each task's default config otherwise.",
                "*Steady* = train rows / median epoch time after the first (an epoch is the train pass",
                "+ the validation pass, as `training/loop.py` times it); *end to end* = rows x epochs /",
                "wall time including model build, Ray worker start-up, Ray Data hand-off and per-epoch",
                "checkpoints. Ray runs `training.runner.fit` (what `yard train` runs); ray.init",
                f"({ray_init_seconds:.1f} s here) is paid once per command and is not in these numbers.",
                "Torch threads: plain = all cores, plain-1t = one (a control: ray-2 has one per worker),",
                "ray-N = cores / N per worker.",
            ]
        ),
    )
    pairs = (
        ("plain", "ray-1", "how many times faster the plain loop trains than Ray with one worker"),
        (
            "ray-1",
            "ray-2",
            "how many times faster one Ray worker trains than two (< 1: the second worker pays off)",
        ),
    )
    for numerator, denominator, meaning in pairs:
        ratios = [steady[m][numerator] / steady[m][denominator] for m in models]
        add_ratio(result, f"{numerator} / {denominator} steady (geo-mean)", _geomean(ratios), 1.0, meaning)
    if "plain-1t" in variants:
        ratios = [steady[m]["plain"] / steady[m]["plain-1t"] for m in models]
        add_ratio(
            result,
            "plain / plain-1t steady (geo-mean)",
            _geomean(ratios),
            1.0,
            "what the second intra-op torch thread brings without Ray (control)",
        )
    for numerator, denominator, meaning in pairs:
        ratios = [wall[m][denominator] / wall[m][numerator] for m in models]
        add_ratio(
            result,
            f"{numerator} / {denominator} end to end (geo-mean)",
            _geomean(ratios),
            1.0,
            meaning + ", counting start-up and checkpoints",
        )
    for numerator, denominator, _ in pairs:
        for model in models:
            add_ratio(
                result,
                f"{numerator} / {denominator} steady ({model})",
                steady[model][numerator],
                steady[model][denominator],
                f"steady samples/s, {model}",
            )
    add_table(
        result,
        "Steady samples/s (median epoch after the first)",
        ["model", "train rows", *variants, "plain / ray-1", "ray-1 / ray-2"],
        [
            [
                m,
                measured[m][0].rows,
                *(round(steady[m][v], 1) for v in variants),
                round(steady[m]["plain"] / steady[m]["ray-1"], 2),
                round(steady[m]["ray-1"] / steady[m]["ray-2"], 2),
            ]
            for m in models
        ],
    )
    add_table(
        result,
        f"End to end: wall seconds for {epochs} epochs (samples/s)",
        ["model", *variants],
        [
            [m, *(f"{t.wall_seconds:.1f} s ({t.end_to_end_samples_per_second:,.0f}/s)" for t in measured[m])]
            for m in models
        ],
    )
    if default_runs:
        add_table(
            result,
            "Default config, full data: the `yard train <model>` pipeline "
            "(2 Ray workers, evaluation, export, MLflow)",
            [
                "model",
                "epochs",
                "Ray fit s",
                "total s",
                f"under {DEFAULT_CONFIG_BUDGET_S:.0f} s",
                "headline metric",
                "value",
            ],
            [
                [
                    r["model"],
                    r["epochs"],
                    r["train_seconds"],
                    r["total_seconds"],
                    r["total_seconds"] < DEFAULT_CONFIG_BUDGET_S,
                    r["headline_metric"],
                    r["headline_value"],
                ]
                for r in default_runs
            ],
            note=f"Plus ray.init ({ray_init_seconds:.1f} s) once per `yard train` command.",
        )
    else:
        result["sections"].append(
            {
                "title": "Default-config wall time",
                "markdown": "Not measured in quick mode: run `make bench` (full) to time each "
                "model's default config on the full data.",
            }
        )
    add_bar_chart(
        result,
        "steady train samples/s (log)",
        "samples/s",
        models,
        {v: [round(steady[m][v], 1) for m in models] for v in variants},
        log=True,
    )
    add_bar_chart(
        result,
        f"end to end: wall s for {epochs} epochs",
        "seconds",
        models,
        {v: [round(wall[m][v], 1) for m in models] for v in variants},
    )
    result["data"] = {
        "epochs": epochs,
        "smoke": quick,
        "ray_init_seconds": round(ray_init_seconds, 2),
        "models": {m: [t.as_dict() for t in measured[m]] for m in models},
        "default_config_runs": default_runs,
    }
    return result


def _tensors(columns: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(values)) for name, values in columns.items()}


def _rows(columns: dict[str, np.ndarray]) -> int:
    return len(next(iter(columns.values())))


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _print(model: str, throughput: Throughput) -> None:
    console.print(
        f"{model} {throughput.variant}: {throughput.steady_samples_per_second:,.0f} samples/s steady, "
        f"{throughput.wall_seconds:.1f} s wall for {len(throughput.epoch_seconds)} epochs"
    )
