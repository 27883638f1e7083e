"""``yard retrain``: a new version from the original data plus labelled feedback, gated on the
held-out set and the recent labelled window, then rolled out step by step on the local stack.

The pieces are the platform's own: ``training.runner.train`` (with ``TrainOptions.feedback``),
the registry's gate (``policy.decide_on_windows``), and ``rollout``'s driver and progressive
steps, exactly what ``yard rollout start MODEL --steps ... --auto`` runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from loop.feedback import JOINS, summary
from modelyard.errors import UsageError
from modelyard.payloads import read_feedback, read_payloads
from modelyard.registry import Registry
from modelyard.settings import Settings
from rollout.analysis import AnalysisPolicy
from rollout.local import local_rollouts
from rollout.progressive import StepReport, run_steps
from training.cluster import ray_session
from training.feedback import write_labelled
from training.options import TrainOptions
from training.runner import TrainOutcome, train
from training.versioning import SMOKE_TAG, current_champion

RETRAIN_TOLERANCE = 0.005
"""Held-out headline metric (moderation's PR-AUC, ranking's AUC) a retrained version may lose:
a few hundred new rows move it by about this much either way, and the recent window is where it
must not lose."""


@dataclass(frozen=True)
class Retrained:
    trained: TrainOutcome
    feedback: dict[str, int]
    feedback_file: Path


def collect_feedback(
    settings: Settings, model: str, since: float | None, until: float | None
) -> tuple[Any, Path]:
    """Labelled rows of the window, written where the training job (and its lineage) reads them."""
    if model not in JOINS:
        raise UsageError(
            f"{model} gets no labelled feedback to retrain on",
            hint=f"retrain it on new data (yard train {model}); yard retrain learns {', '.join(JOINS)}",
        )
    registry = Registry(settings)
    champion = current_champion(registry, model)
    if champion is None:
        raise UsageError(f"{model} has no champion to retrain", hint=f"yard train {model}")
    table = JOINS[model].join(
        read_payloads(settings, model, since=since, until=until),
        read_feedback(settings, model, since=since, until=until),
        str(champion.version),
    )
    if table.num_rows == 0:
        raise UsageError(
            f"no labelled {model} requests in the window",
            hint=f"post labels to /v1/models/{model}/feedback (yard simulate {model} does)",
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = write_labelled(settings.state_dir / "retrain" / model / f"{stamp}-feedback.parquet", table)
    return table, path


def retrain(
    settings: Settings,
    model: str,
    console: Console,
    since: datetime | None = None,
    until: datetime | None = None,
    smoke: bool | None = None,
    tolerance: float = RETRAIN_TOLERANCE,
    show_progress: bool = True,
) -> Retrained:
    """Train on the data plus the window's labels; the gate decides challenger or rejected.

    ``smoke`` None: the same kind of run as the champion (the gate compares like with like).
    """
    table, path = collect_feedback(settings, model, since, until)
    if smoke is None:
        smoke = champion_is_smoke(settings, model)
    options = TrainOptions(smoke=smoke, tolerance=tolerance, feedback=path, show_progress=show_progress)
    with ray_session(settings):
        trained = train(model, options, settings, console)
    return Retrained(trained, summary(table, JOINS[model].positive), path)


def champion_is_smoke(settings: Settings, model: str) -> bool:
    """Whether the champion was trained on the smoke subset (what its held-out set is)."""
    champion = current_champion(Registry(settings), model)
    return champion is not None and champion.tags.get(SMOKE_TAG) == "true"


def roll_out(
    settings: Settings,
    model: str,
    version: int,
    steps: list[int],
    interval_s: float,
    policy: AnalysisPolicy,
    on_step: Callable[[StepReport], None] = lambda report: None,
    gateway: str | None = None,
    ready_timeout_s: float = 180.0,
) -> dict[str, Any]:
    """``yard rollout start MODEL --version V --steps ... --auto`` on the local stack: the
    canary walks ``steps`` judged by the analysis, then is promoted or rolled back."""
    rollouts = local_rollouts(settings, gateway)
    candidate = rollouts.registry.resolve(f"{model}/{version}")
    started = time.monotonic()
    rollout = rollouts.start(model, candidate, steps[0], "canary", ready_timeout_s)
    outcome = run_steps(rollouts, rollout, steps, interval_s, policy, on_step)
    result: dict[str, Any] = {"version": version, "passed": outcome.passed, "reason": outcome.reason}
    if outcome.passed:
        promoted, aliases, _ = rollouts.promote(model)
        result |= {"stable": int(promoted.stable.version), "aliases": aliases}
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
