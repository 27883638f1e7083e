"""``yard registry``: inspect model versions and move the champion/challenger/previous aliases."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelyard.cli.output import console, emit_json

if TYPE_CHECKING:
    from modelyard.registry import AliasMove, Registry

app = typer.Typer(help="Model versions and their champion/challenger/previous aliases.", no_args_is_help=True)

ALIAS_COLUMNS = ("champion", "challenger", "previous")


def _registry() -> Registry:
    """Built on first use: importing mlflow costs seconds that ``yard --help`` should not pay."""
    from modelyard.registry import Registry

    return Registry()


def _metric_text(metrics: dict[str, float], headline: str | None) -> str:
    if not metrics:
        return "-"
    name = headline if headline in metrics else sorted(metrics)[0]
    return f"{name}={metrics[name]:.4g}"


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Every registered model with its aliased versions and headline metric."""
    summaries = _registry().list_models()
    if as_json:
        emit_json([asdict(summary) for summary in summaries])
        return
    table = Table(title="registered models")
    for column in ("model", "versions", *ALIAS_COLUMNS, "champion metric"):
        table.add_column(column)
    for summary in summaries:
        aliases = [f"v{summary.aliases[a]}" if a in summary.aliases else "-" for a in ALIAS_COLUMNS]
        champion_metrics = summary.metrics.get("champion", {})
        table.add_row(
            summary.name,
            f"{summary.version_count} (latest v{summary.latest_version})",
            *aliases,
            _metric_text(champion_metrics, summary.headline_metric),
        )
    console.print(table if summaries else "no model is registered yet")


@app.command()
def show(
    name: str = typer.Argument(..., help="Registered model name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every version of NAME: aliases, metrics and lineage (dataset digest, git commit, gate)."""
    versions = _registry().versions(name)
    if as_json:
        emit_json([{**asdict(version), "uri": version.uri} for version in versions])
        return
    table = Table(title=name)
    for column in ("version", "aliases", "metrics", "lineage", "gate", "run"):
        table.add_column(column, overflow="fold")
    for version in versions:
        table.add_row(
            f"v{version.version}",
            ", ".join(version.aliases),
            "\n".join(f"{k}={v:.4g}" for k, v in sorted(version.metrics.items())),
            _lineage_text(version.tags),
            _gate_text(version.tags),
            version.run_id[:12],
        )
    console.print(table)


def _lineage_text(tags: dict[str, str]) -> str:
    from modelyard.registry.lineage import (
        DATASET_DIGEST_TAG,
        GIT_COMMIT_TAG,
        GIT_DIRTY_TAG,
        PACKAGE_VERSION_TAG,
    )

    commit = tags.get(GIT_COMMIT_TAG, "?")[:12]
    dirty = " (dirty)" if tags.get(GIT_DIRTY_TAG) == "true" else ""
    return (
        f"data {tags.get(DATASET_DIGEST_TAG, '?')}\n"
        f"git {commit}{dirty}\n"
        f"modelyard {tags.get(PACKAGE_VERSION_TAG, '?')}"
    )


def _gate_text(tags: dict[str, str]) -> str:
    from modelyard.registry.registry import GATE_DECISION_TAG, GATE_REASON_TAG, ROLLED_BACK_TAG

    if GATE_DECISION_TAG not in tags:
        return "-"
    rolled_back = "\nrolled back" if tags.get(ROLLED_BACK_TAG) == "true" else ""
    return f"{tags[GATE_DECISION_TAG]}: {tags.get(GATE_REASON_TAG, '')}{rolled_back}"


@app.command()
def alias(
    name: str = typer.Argument(..., help="Registered model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="champion, challenger or previous."),
    version: int = typer.Argument(..., help="Version number the alias should point at."),
) -> None:
    """Point ALIAS of NAME at VERSION (an explicit override of the gate)."""
    _registry().set_alias(name, alias_name, version)
    console.print(f"{name}@{alias_name} -> v{version}")


def _version_text(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"


def _print_move(move: AliasMove) -> None:
    for alias_name in ALIAS_COLUMNS:
        old, new = move.before.get(alias_name), move.after.get(alias_name)
        if old != new:
            console.print(f"{move.name}@{alias_name}: {_version_text(old)} -> {_version_text(new)}")


@app.command()
def promote(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Make the challenger of NAME its champion; the old champion becomes previous."""
    _print_move(_registry().promote(name))


@app.command()
def rollback(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Make the previous champion of NAME champion again; the demoted version loses its alias."""
    _print_move(_registry().rollback(name))
