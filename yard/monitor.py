"""``yard monitor``: drift and online metrics of one model's logged traffic in a time window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

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
) -> None:
    """Compare MODEL's logged requests in a window with its serving version's reference profile
    (per-signal KS / chi-squared / MMD tests, Holm-corrected), and report online metrics from
    feedback. Exit code 0 whether or not it drifted: read "drift" in the output."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from monitoring import run
    from monitoring.window import parse_moment

    window = (parse_moment(since) if since else None, parse_moment(until) if until else None)
    result = run(get_settings(), model, *window)
    if as_json and not retrain:
        emit_json(result)
        return
    if not as_json:
        console.print(result_table(result))
        console.print(summary_line(result))
        if result["online"]:
            console.print(online_line(result["online"]))
    if retrain and result["drift"]:
        retrained = retrain_and_roll_out(model, window, None, None, RolloutPlan(), as_json)
        if as_json:
            emit_json({**result, "retrain": retrained})
    elif as_json:
        emit_json({**result, "retrain": None})
    elif retrain:
        console.print("no drift: not retrained")


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
