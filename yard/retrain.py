"""``yard retrain MODEL``: learn from the labelled feedback, gate, and roll out if it passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import typer

from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console
from yard.rollout import AutoRollback

app = typer.Typer(help="Retrain a model on labelled feedback and roll it out.")


@dataclass(frozen=True)
class RolloutPlan:
    """What to do with a version the gate passes (``--rollout``, ``--steps``, ...)."""

    enabled: bool = True
    steps: str = "25,50,100"
    interval: str = "30s"
    min_requests: int = 50
    gateway: str | None = None


@app.command()
def retrain(
    model: str = typer.Argument(
        ..., help="Model to retrain: moderation (moderator labels), ranking (clicks)."
    ),
    since: str | None = typer.Option(None, "--since", help="Feedback from: 30m, 2h ago or an ISO time."),
    until: str | None = typer.Option(None, "--until", help="Feedback until (same forms) [default: now]."),
    smoke: bool | None = typer.Option(
        None, "--smoke/--full", help="Train on the smoke subset or all data [default: as the champion]."
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", min=0.0, help="Gate: how much worse than the champion still passes [0.005]."
    ),
    rollout: bool = typer.Option(
        True, "--rollout/--no-rollout", help="Start a progressive canary when the gate passes."
    ),
    steps: str = typer.Option("25,50,100", "--steps", help="Canary percents."),
    interval: str = typer.Option("30s", "--interval", help="Time per step (30s, 2m)."),
    min_requests: int = typer.Option(50, "--min-requests", min=1, help="Canary requests needed per step."),
    gateway: str | None = typer.Option(None, "--gateway", help="Gateway URL (default: from stack.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Train on the data plus labelled feedback, gate, and roll out step by step.

    The gate compares with the champion on the held-out set and on the recent labelled window;
    a passing version goes through `yard rollout start --steps ... --auto`."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from monitoring.window import parse_moment

    window = (parse_moment(since) if since else None, parse_moment(until) if until else None)
    plan = RolloutPlan(rollout, steps, interval, min_requests, gateway)
    result = retrain_and_roll_out(model, window, smoke, tolerance, plan, as_json)
    if as_json:
        emit_json(result)


def retrain_and_roll_out(
    model: str,
    window: tuple[datetime | None, datetime | None],
    smoke: bool | None,
    tolerance: float | None,
    plan: RolloutPlan,
    as_json: bool,
) -> dict[str, Any]:
    """``yard retrain`` (also ``yard monitor --retrain`` on drift); AutoRollback when the
    analysis rolled the new version back."""
    # lazy: training and rollout load torch, Ray and MLflow (seconds); `yard --help` must not wait
    from loop.retrain import RETRAIN_TOLERANCE, roll_out
    from loop.retrain import retrain as run_retrain
    from rollout.analysis import AnalysisPolicy
    from rollout.progressive import parse_duration, parse_steps
    from training.report import outcome_json, print_outcome

    steps, interval_s = parse_steps(plan.steps), parse_duration(plan.interval)  # bad flags fail first
    settings = get_settings()
    out = err_console if as_json else console
    tolerance = RETRAIN_TOLERANCE if tolerance is None else tolerance
    done = run_retrain(settings, model, out, *window, smoke, tolerance, not as_json)
    out.print(
        f"feedback: {done.feedback['rows']} labelled rows ({done.feedback['train']} trained on, "
        f"{done.feedback['recent']} in the recent window), {done.feedback_file}"
    )
    if not as_json:
        print_outcome(console, done.trained)
    result: dict[str, Any] = {
        "feedback": done.feedback,
        "trained": outcome_json(done.trained),
        "rollout": None,
    }
    if done.trained.alias != "challenger" or not plan.enabled:
        out.print(f"[yellow]not rolled out[/]: {done.trained.reason}")
        return result
    result["rollout"] = roll_out(
        settings,
        model,
        done.trained.version,
        steps,
        interval_s,
        AnalysisPolicy(min_requests=plan.min_requests),
        on_step=lambda report: out.print(
            f"step {report.percent:>3}%: canary {report.canary.requests} req -> "
            f"{report.verdict.decision} ({report.verdict.summary})"
        ),
        gateway=plan.gateway,
    )
    verdict = "promoted" if result["rollout"]["passed"] else "rolled back"
    out.print(f"{verdict} {model} v{done.trained.version}: {result['rollout']['reason']}")
    if not result["rollout"]["passed"]:
        if as_json:
            emit_json(result)
        raise AutoRollback(
            f"{model} v{done.trained.version} was rolled back: {result['rollout']['reason']}",
            hint=f"yard rollout status {model}",
        )
    return result
