"""``yard train`` and ``yard tune``: Ray trains, MLflow versions, the gate picks the alias."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelyard.errors import UsageError
from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console

if TYPE_CHECKING:
    from training.options import TrainOptions
    from training.tune import TuneOutcome

app = typer.Typer(help="Train and tune the models.")

ALL = "all"


def _options(**values: object) -> TrainOptions:
    """Imported late: ``training`` pulls in torch and Ray, which ``yard --help`` must not wait for."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from training.options import TrainOptions

    return TrainOptions(**values)


def _models(model: str) -> list[str]:
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from training.tasks import TASKS

    if model == ALL:
        return list(TASKS)
    if model not in TASKS:
        raise UsageError(f"unknown model {model!r}", hint=f"use one of: {', '.join([*TASKS, ALL])}")
    return [model]


_WORKERS = typer.Option(2, "--workers", help="Ray Train workers (data-parallel, DDP).")
_GPU = typer.Option(False, "--gpu", help="Train on GPUs when the Ray cluster has them (else warn, use CPU).")
_EPOCHS = typer.Option(None, "--epochs", help="Override the model's default epochs.")
_BATCH = typer.Option(None, "--batch-size", help="Override the model's default batch size.")
_SMOKE = typer.Option(
    False, "--smoke", help="A small data subset: a whole run in about a minute (tests, CI)."
)
_ADDRESS = typer.Option(
    None, "--address", help="Existing Ray cluster (default: MODELYARD_RAY_ADDRESS, else local)."
)
_JSON = typer.Option(False, "--json", help="Print the outcome as JSON (no progress display).")


@app.command()
def train(
    model: str = typer.Argument(..., help="visual-search, moderation, ranking or all."),
    workers: int = _WORKERS,
    gpu: bool = _GPU,
    epochs: int | None = _EPOCHS,
    batch_size: int | None = _BATCH,
    smoke: bool = _SMOKE,
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Continue an interrupted job from its checkpoint."
    ),
    tolerance: float = typer.Option(
        0.0, "--tolerance", help="Gate: how much worse than the champion still passes."
    ),
    address: str | None = _ADDRESS,
    as_json: bool = _JSON,
) -> None:
    """Train on Ray, evaluate, export for Triton, register in MLflow and gate against the champion."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from training.cluster import ray_session
    from training.report import outcome_json, print_outcome
    from training.runner import train as run_training

    models = _models(model)
    options = _options(
        workers=workers,
        gpu=gpu,
        epochs=epochs,
        batch_size=batch_size,
        smoke=smoke,
        resume=resume,
        tolerance=tolerance,
        address=address,
        show_progress=not as_json,
    )
    settings = get_settings()
    out = err_console if as_json else console
    outcomes = []
    with ray_session(settings, address):
        for name in models:
            outcome = run_training(name, options, settings, out)
            if not as_json:
                print_outcome(console, outcome)
            outcomes.append(outcome)
    if as_json:
        emit_json([outcome_json(o) for o in outcomes] if model == ALL else outcome_json(outcomes[0]))


@app.command()
def tune(
    model: str = typer.Argument(..., help="visual-search, moderation or ranking."),
    trials: int = typer.Option(4, "--trials", help="How many configs to try."),
    workers: int = _WORKERS,
    gpu: bool = _GPU,
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs per trial (default: half the model's)."),
    batch_size: int | None = _BATCH,
    smoke: bool = _SMOKE,
    register: bool = typer.Option(
        True, "--register/--no-register", help="Train and register the best config."
    ),
    tolerance: float = typer.Option(0.0, "--tolerance", help="Gate tolerance for the registered version."),
    address: str | None = _ADDRESS,
    as_json: bool = _JSON,
) -> None:
    """Search the model's hyper-parameters with Ray Tune, then train and register the best config."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from training.cluster import ray_session
    from training.report import outcome_json, print_outcome
    from training.runner import train as run_training
    from training.tune import check_trials
    from training.tune import tune as run_tune

    check_trials(trials)
    if model == ALL:
        raise UsageError("tune takes one model", hint="name one of visual-search, moderation, ranking")
    (name,) = _models(model)
    options = _options(
        workers=workers,
        gpu=gpu,
        epochs=epochs,
        batch_size=batch_size,
        smoke=smoke,
        tolerance=tolerance,
        address=address,
        show_progress=not as_json,
    )
    settings = get_settings()
    out = err_console if as_json else console
    with ray_session(settings, address):
        searched = run_tune(name, trials, options, settings, out)
        if not as_json:
            console.print(_trials_table(searched))
        outcome = None
        if register:
            # The full run uses the model's own epochs; --epochs only sized the trials.
            outcome = run_training(
                name, replace(options, epochs=None, overrides=searched.best_config), settings, out
            )
            if not as_json:
                print_outcome(console, outcome)
    if as_json:
        emit_json({"tune": asdict(searched), "train": outcome_json(outcome) if outcome else None})


def _trials_table(searched: TuneOutcome) -> Table:
    keys = list(searched.best_config)
    table = Table(*keys, "val_loss", title=f"{searched.model}: trials, best first", title_justify="left")
    for row in searched.trials:
        table.add_row(*(_cell(row[k]) for k in keys), f"{row['val_loss']:.4f}")
    return table


def _cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
