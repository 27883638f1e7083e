"""``yard registry``: inspect model versions, move the champion/challenger/previous aliases, and
publish a version's Triton repository to the model store KServe reads."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelyard.cli.output import console, emit_json
from modelyard.errors import UsageError
from modelyard.settings import get_settings

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
    from modelyard.registry.publish import STORAGE_URI_TAG

    commit = tags.get(GIT_COMMIT_TAG, "?")[:12]
    dirty = " (dirty)" if tags.get(GIT_DIRTY_TAG) == "true" else ""
    published = f"\npublished {tags[STORAGE_URI_TAG]}" if STORAGE_URI_TAG in tags else ""
    return (
        f"data {tags.get(DATASET_DIGEST_TAG, '?')}\n"
        f"git {commit}{dirty}\n"
        f"modelyard {tags.get(PACKAGE_VERSION_TAG, '?')}{published}"
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


@app.command()
def publish(
    name: str = typer.Argument(..., help="Registered model name."),
    version: int | None = typer.Option(None, "--version", min=1, help="Version number [default: champion]."),
    alias_name: str | None = typer.Option(None, "--alias", help="Publish the version behind this alias."),
    model_store: str | None = typer.Option(
        None, "--model-store", help="Store URI [default: MODELYARD_MODEL_STORE_URI]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Copy a version's Triton repository to <store>/NAME/<version>/, the folder KServe serves;
    prints the URI to put in the chart's models.NAME.storageUri. Safe to repeat."""
    from modelyard.registry import publish_version, resolve_store

    if version is not None and alias_name is not None:
        raise UsageError("give --version or --alias, not both", hint="e.g. --alias champion")
    store = resolve_store(model_store, get_settings())
    registry = _registry()
    ref = f"{name}/{version}" if version is not None else f"{name}@{alias_name}" if alias_name else name
    resolved = registry.resolve(ref)
    with console.status(f"publishing {name} v{resolved.version} to {store}"):
        uri = publish_version(registry, name, resolved.version, store)
    if as_json:
        emit_json({"model": name, "version": resolved.version, "storage_uri": uri})
        return
    console.print(f"published {name} v{resolved.version} to {uri}", highlight=False)
    console.print(f"serve it with: --set models.{name}.storageUri={uri}", highlight=False, soft_wrap=True)
