"""How a finished training job is shown: a rich table for people, a dict for ``--json``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from training.runner import TrainOutcome


def outcome_table(outcome: TrainOutcome) -> Table:
    """metric | model | baseline | champion, the headline metric first and marked; metrics only the
    baselines have (extra baselines, their fit times) get a row with an empty model cell."""
    champion_title = f"champion v{outcome.champion_version}" if outcome.champion_version else "champion"
    table = Table(title=f"{outcome.model} v{outcome.version}", title_justify="left")
    for column in ("metric", "model", "baseline", champion_title):
        table.add_column(column, justify="left" if column == "metric" else "right")
    others = (set(outcome.metrics) | set(outcome.baseline)) - {outcome.headline_metric}
    names = [outcome.headline_metric, *sorted(others)]
    for name in names:
        label = f"[bold]{name}[/] *" if name == outcome.headline_metric else name
        table.add_row(
            label,
            _number(outcome.metrics.get(name)),
            _number(outcome.baseline.get(name)),
            _number((outcome.champion or {}).get(name)),
        )
    return table


def headline_line(outcome: TrainOutcome) -> str:
    """``model vN: metric value against the baseline's b (better|worse)``: the one line to read."""
    name = outcome.headline_metric
    value, baseline = outcome.metrics.get(name), outcome.baseline.get(name)
    line = f"[bold]{outcome.model} v{outcome.version}[/]: {name} {_number(value)}"
    if value is None or baseline is None:
        return line
    ahead = value > baseline if outcome.higher_is_better else value < baseline
    verdict = "[green]beats[/]" if ahead else "[yellow]does not beat[/]"
    return f"{line}, {verdict} the baseline's {_number(baseline)}"


def print_outcome(console: Console, outcome: TrainOutcome) -> None:
    console.print(headline_line(outcome), highlight=False)
    console.print(outcome_table(outcome))
    verdict = f"[green]{outcome.alias}[/]" if outcome.alias else "[red]rejected[/]"
    resumed = f", resumed after epoch {outcome.resumed_from_epoch}" if outcome.resumed_from_epoch else ""
    console.print(
        f"gate on {outcome.headline_metric} ({'higher' if outcome.higher_is_better else 'lower'} is better): "
        f"{verdict} - {outcome.reason}"
    )
    console.print(
        f"{outcome.epochs} epochs{resumed}, train {outcome.train_seconds:.0f} s, "
        f"total {outcome.total_seconds:.0f} s; MLflow run {outcome.run_id}",
        highlight=False,
    )
    if outcome.storage_uri:
        console.print(
            f"published to {outcome.storage_uri} (models.{outcome.model}.storageUri)", highlight=False
        )


def outcome_json(outcome: TrainOutcome) -> dict[str, Any]:
    return asdict(outcome)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
