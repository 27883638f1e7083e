"""``yard simulate MODEL --drift KIND``: shifted traffic and feedback through the gateway, and
the loop's answer to it, printed as a timeline."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import track

from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console

app = typer.Typer(help="Simulate drifted traffic and watch the loop retrain and roll out.")


@app.command()
def simulate(
    model: str = typer.Argument(..., help="Model to send traffic to (moderation, visual-search, ranking)."),
    drift: str = typer.Option(
        ...,
        "--drift",
        help="moderation: campaign (a new spam campaign); visual-search: invert or rotate (the images); "
        "ranking: popularity (a wave of long-tail users).",
    ),
    requests: int = typer.Option(300, "--requests", min=10, help="Requests per window."),
    feedback_share: float = typer.Option(
        0.5, "--feedback-share", help="Share of answers that get feedback: labels, clicks (0..1)."
    ),
    retrain: bool = typer.Option(True, "--retrain/--no-retrain", help="Retrain and roll out on drift."),
    smoke: bool | None = typer.Option(
        None, "--smoke/--full", help="Retrain on the smoke subset or all data [default: as the champion]."
    ),
    steps: str = typer.Option("25,50,100", "--steps", help="Canary percents of the rollout."),
    interval: str = typer.Option("20s", "--interval", help="Time per canary step."),
    min_requests: int = typer.Option(30, "--min-requests", min=1, help="Canary requests needed per step."),
    seed: int = typer.Option(0, "--seed", help="Which emails, images or users are sent, and the clicks."),
    as_json: bool = typer.Option(False, "--json", help="Print the timeline and windows as JSON."),
) -> None:
    """Send shifted traffic and labels; on drift retrain, gate, canary, promote or roll back.

    In-distribution traffic first, then the shifted kind, each window judged by the monitor.
    Only moderation retrains (from moderators' labels); visual-search and ranking (clicks are
    posted, not learned from yet) stop at the verdict."""
    # lazy: the loop loads torch, Ray and MLflow (seconds); `yard --help` must not wait
    from loop.simulate import Plan, Timeline
    from loop.simulate import simulate as run_simulation
    from rollout.progressive import parse_duration, parse_steps

    plan = Plan(
        model,
        drift,
        requests,
        feedback_share,
        tuple(parse_steps(steps)),
        parse_duration(interval),
        min_requests,
        smoke,
        retrain,
        seed,
    )
    out = err_console if as_json else console
    timeline = Timeline(
        on_event=lambda entry: out.print(_line(entry), highlight=False),
        track=lambda messages, what: track(messages, description=what, console=out, transient=True),
    )
    result = run_simulation(get_settings(), plan, timeline, out)
    if as_json:
        emit_json(result)


_COLORS = {"drift detected": "red", "no drift": "green", "promoted": "green", "rolled back": "red"}


def _line(entry: dict[str, Any]) -> str:
    """``  12.3s  drift detected  window=shifted signals=[...]``."""
    details = "  ".join(f"{key}={value}" for key, value in entry.items() if key not in ("t", "event"))
    color = _COLORS.get(entry["event"], "bold")
    return f"{entry['t']:>7.1f}s  [{color}]{entry['event']}[/]  {details}"
