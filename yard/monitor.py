"""``yard monitor``: drift and online metrics of one model's logged traffic in a time window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelyard.errors import UsageError
from modelyard.settings import get_settings
from yard.output import console, emit_json
from yard.retrain import RolloutPlan, retrain_and_roll_out

app = typer.Typer(help="Watch served traffic for drift.")


@app.command()
def monitor(
    model: str = typer.Argument(..., help="visual-search, moderation or ranking."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Window start: an ISO time or a duration back from now (15m, 2h). "
        "Default: the first logged row.",
    ),
    until: str | None = typer.Option(None, "--until", help="Window end, written the same way. Default: now."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    retrain: bool = typer.Option(
        False, "--retrain", help="On drift: yard retrain MODEL on the window's labels, then roll it out."
    ),
    submit_rayjob: Path | None = typer.Option(
        None,
        "--submit-rayjob",
        help="On drift: create this RayJob manifest (yard retrain MODEL) through the Kubernetes API, "
        "unless one is still running (the chart's retraining CronJob; in-cluster only).",
    ),
) -> None:
    """Compare MODEL's logged requests in a window with its serving version's reference profile
    (per-signal KS / chi-squared / MMD tests, Holm-corrected), and report online metrics from
    feedback. Exit code 0 whether or not it drifted: read "drift" in the output."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from monitoring import run
    from monitoring.window import parse_moment

    window = (parse_moment(since) if since else None, parse_moment(until) if until else None)
    if submit_rayjob is not None:
        if retrain:
            raise UsageError(
                "--retrain and --submit-rayjob exclude each other", hint="retrain here or in a RayJob"
            )
        _monitor_and_submit(model, window, submit_rayjob, as_json)
        return
    result = run(get_settings(), model, *window)
    if as_json and not retrain:
        emit_json(result)
        return
    if not as_json:
        print_result(result)
    if retrain and result["drift"]:
        retrained = retrain_and_roll_out(model, window, None, None, RolloutPlan(), as_json)
        if as_json:
            emit_json({**result, "retrain": retrained})
    elif as_json:
        emit_json({**result, "retrain": None})
    elif retrain:
        console.print("no drift: not retrained")


def _monitor_and_submit(
    model: str, window: tuple[datetime | None, datetime | None], manifest_file: Path, as_json: bool
) -> None:
    """The CronJob's check: monitor, and on drift create the retraining RayJob. The manifest and
    the API server's credentials are read first, so a broken CronJob fails before the work."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from loop.rayjob import InClusterRayJobs, read_manifest, submit_retrain
    from monitoring import run

    manifest, api = read_manifest(manifest_file), InClusterRayJobs.from_pod()
    result = run(get_settings(), model, *window)
    submitted = None
    if result["drift"]:
        submitted = submit_retrain(api, manifest, model, result["since"], result["until"], datetime.now(UTC))
    if as_json:
        emit_json({**result, "rayjob": submitted})
        return
    print_result(result)
    if submitted is None:
        console.print("no drift: no RayJob")
    else:
        verb = "created" if submitted["created"] else "not created"
        console.print(f"RayJob {submitted['rayjob']} {verb} ({submitted['reason']})")


def print_result(result: dict[str, Any]) -> None:
    console.print(result_table(result))
    console.print(summary_line(result))
    if result["online"]:
        console.print(online_line(result["online"]))


def result_table(result: dict[str, Any]) -> Table:
    """One row per signal: its test, statistic, p-value against its corrected threshold, and PSI
    (fits 80 columns)."""
    table = Table(
        title=f"{result['model']} v{result['version'] or '-'}: {result['requests']} requests, "
        f"{_when(result['since']) if result['since'] else 'start'} to {_when(result['until'])} UTC",
        title_justify="left",
    )
    table.add_column("signal", no_wrap=True)
    table.add_column("test", no_wrap=True)
    for column in ("statistic", "p-value", "alpha", "PSI", "drift"):
        table.add_column(column, justify="right", no_wrap=True)
    for signal in result["signals"]:
        table.add_row(
            signal["name"],
            signal["test"],
            _number(signal["statistic"]),
            _number(signal["p_value"]),
            _number(signal["threshold"]),
            _number(signal.get("psi")),
            "[red]yes[/]" if signal["drift"] else "no",
        )
    return table


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def summary_line(result: dict[str, Any]) -> str:
    if result["note"]:
        return f"[yellow]{result['note']}[/]"
    verdict = "[red]drift[/]" if result["drift"] else "[green]no drift[/]"
    return (
        f"{verdict} (family-wise alpha {result['alpha']}, Holm-corrected over {len(result['signals'])} tests)"
    )


def online_line(online: dict[str, Any]) -> str:
    figures = ", ".join(f"{name} {_number(value)}" for name, value in online.items())
    return f"online metrics from feedback: {figures}"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3g}"
