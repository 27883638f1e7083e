"""``yard retrain MODEL``: learn from the labelled feedback, gate, and roll out if it passes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import typer

from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console
from yard.rollout import AutoRollback

app = typer.Typer(help="Retrain a model on labelled feedback and roll it out.")


def parse_moment(text: str | None) -> float | None:
    """``30m`` / ``2h`` (that long ago) or an ISO time (naive = UTC) -> unix seconds."""
    if text is None:
        return None
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from rollout.progressive import parse_duration

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return time.time() - parse_duration(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@app.command()
def retrain(
    model: str = typer.Argument(..., help="Model to retrain (moderation learns from moderator labels)."),
    since: str | None = typer.Option(None, "--since", help="Feedback from: 30m, 2h ago or an ISO time."),
    until: str | None = typer.Option(None, "--until", help="Feedback until (same forms) [default: now]."),
    smoke: bool | None = typer.Option(
        None, "--smoke/--full", help="Train on the smoke subset or all data [default: as the champion]."
    ),
    tolerance: float = typer.Option(
        0.005, "--tolerance", min=0.0, help="Gate: how much worse than the champion still passes."
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
    # lazy: training and rollout load torch, Ray and MLflow (seconds); `yard --help` must not wait
    from loop.retrain import retrain as run_retrain
    from loop.retrain import roll_out
    from rollout.analysis import AnalysisPolicy
    from rollout.progressive import parse_duration, parse_steps
    from training.report import outcome_json, print_outcome

    plan = parse_steps(steps)
    interval_s = parse_duration(interval)
    settings = get_settings()
    out = err_console if as_json else console
    done = run_retrain(
        settings, model, out, parse_moment(since), parse_moment(until), smoke, tolerance, not as_json
    )
    out.print(
        f"feedback: {done.feedback['rows']} labelled rows ({done.feedback['train']} trained on, "
        f"{done.feedback['recent']} in the recent window), {done.feedback_file}"
    )
    if not as_json:
        print_outcome(console, done.trained)
    result = {"feedback": done.feedback, "trained": outcome_json(done.trained), "rollout": None}
    if done.trained.alias == "challenger" and rollout:
        result["rollout"] = roll_out(
            settings,
            model,
            done.trained.version,
            plan,
            interval_s,
            AnalysisPolicy(min_requests=min_requests),
            on_step=lambda report: out.print(
                f"step {report.percent:>3}%: canary {report.canary.requests} req -> "
                f"{report.verdict.decision} ({report.verdict.summary})"
            ),
            gateway=gateway,
        )
        verdict = "promoted" if result["rollout"]["passed"] else "rolled back"
        out.print(f"{verdict} {model} v{done.trained.version}: {result['rollout']['reason']}")
    elif done.trained.alias != "challenger":
        out.print(f"[yellow]not rolled out[/]: the gate said {done.trained.reason}")
    if as_json:
        emit_json(result)
    if result["rollout"] is not None and not result["rollout"]["passed"]:
        raise AutoRollback(
            f"{model} v{done.trained.version} was rolled back: {result['rollout']['reason']}",
            hint=f"yard rollout status {model}",
        )
