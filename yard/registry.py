"""``yard registry``: inspect model versions, move the champion/challenger/previous aliases, and
publish a version's Triton repository to the model store KServe reads."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from modelyard.errors import UsageError
from modelyard.settings import get_settings
from yard.output import console, emit_json

if TYPE_CHECKING:
    from modelyard.registry import AliasMove, ModelSummary, Registry, ResolvedVersion

app = typer.Typer(help="Model versions and their champion/challenger/previous aliases.", no_args_is_help=True)

ALIAS_COLUMNS = ("champion", "challenger", "previous")


def _registry() -> Registry:
    """Built on first use: importing mlflow costs seconds that ``yard --help`` should not pay."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.registry import Registry

    return Registry()


def headline_text(metrics: dict[str, float], headline: str | None, lines: int = 1) -> str:
    """``name value (baseline b)``: the metric the version was gated on (else the first one),
    against the baseline training logged beside it (``baseline_<name>``), on one or two lines."""
    if not metrics:
        return "-"
    name = headline if headline in metrics else sorted(metrics)[0]
    baseline = metrics.get(f"baseline_{name}")
    figures = f"{metrics[name]:.4f}" + (f" (baseline {baseline:.4f})" if baseline is not None else "")
    separator = "\n" if lines > 1 else " "
    return f"{name}{separator}{figures}"


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Every registered model with its aliased versions and headline metric."""
    summaries = _registry().list_models()
    if as_json:
        emit_json([asdict(summary) for summary in summaries])
        return
    console.print(models_table(summaries) if summaries else "no model is registered yet")


def models_table(summaries: list[ModelSummary]) -> Table:
    """One row per model; narrow enough for 80 columns without breaking a name or a number."""
    headlines = [headline_text(s.metrics.get("champion", {}), s.headline_metric, lines=2) for s in summaries]
    table = Table(title="registered models", title_justify="left")
    table.add_column("model", no_wrap=True)
    table.add_column("aliases", no_wrap=True)
    # Wraps between words only: at least as wide as its longest word (a metric name).
    longest = max((len(word) for text in headlines for word in text.split()), default=0)
    table.add_column("champion metric (baseline)", min_width=longest)
    for summary, headline in zip(summaries, headlines, strict=True):
        aliases = [f"{a} v{summary.aliases[a]}" for a in ALIAS_COLUMNS if a in summary.aliases]
        count = summary.version_count
        versions = f"{count} version{'s' if count != 1 else ''}, latest v{summary.latest_version}"
        table.add_row(f"{summary.name}\n[dim]{versions}[/]", "\n".join(aliases) or "-", headline)
    return table


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
    console.print(versions_view(versions))


def versions_view(versions: list[ResolvedVersion]) -> Group:
    """Each version as labelled lines (like ``kubectl describe``): metrics wrap between
    ``name=value`` pairs, never inside one; ids and URIs stay whole."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.registry.lineage import (
        DATASET_DIGEST_TAG,
        GIT_COMMIT_TAG,
        GIT_DIRTY_TAG,
        PACKAGE_VERSION_TAG,
    )
    from modelyard.registry.publish import STORAGE_URI_TAG
    from modelyard.registry.registry import GATE_METRIC_TAG

    parts = []
    for version in versions:
        headline = version.tags.get(GATE_METRIC_TAG)
        own = {k: v for k, v in version.metrics.items() if not k.startswith("baseline_")}
        baseline = {
            k.removeprefix("baseline_"): v for k, v in version.metrics.items() if k.startswith("baseline_")
        }
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("metrics", _pairs(own, headline))
        if baseline:
            grid.add_row("baseline", _pairs(baseline, headline))
        grid.add_row("gate", _gate_text(version.tags))
        dirty = " (dirty)" if version.tags.get(GIT_DIRTY_TAG) == "true" else ""
        grid.add_row(
            "lineage",
            f"data {version.tags.get(DATASET_DIGEST_TAG, '?')[:12]}  "
            f"git {version.tags.get(GIT_COMMIT_TAG, '?')[:12]}{dirty}  "
            f"modelyard {version.tags.get(PACKAGE_VERSION_TAG, '?')}",
        )
        grid.add_row("run", version.run_id)
        if STORAGE_URI_TAG in version.tags:
            grid.add_row("published", version.tags[STORAGE_URI_TAG])
        aliases = f"  [green]{', '.join(version.aliases)}[/]" if version.aliases else ""
        parts += [Text.from_markup(f"[bold]{version.name} v{version.version}[/]{aliases}"), grid, Text("")]
    return Group(*parts)


def _pairs(metrics: dict[str, float], headline: str | None) -> str:
    """``name=value`` pairs, the headline first and bold; a line breaks only between pairs."""
    names = sorted(metrics, key=lambda name: (name != headline, name))
    pairs = [f"{name}={metrics[name]:.4g}" for name in names]
    if names and names[0] == headline:
        pairs[0] = f"[bold]{pairs[0]}[/]"
    return "  ".join(pairs)


def _gate_text(tags: dict[str, str]) -> str:
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.registry.registry import GATE_DECISION_TAG, GATE_REASON_TAG, ROLLED_BACK_TAG

    if GATE_DECISION_TAG not in tags:
        return "-"
    rolled_back = " (rolled back)" if tags.get(ROLLED_BACK_TAG) == "true" else ""
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
    version: int | None = typer.Option(None, "--version", min=1, help="Version number (default: champion)."),
    alias_name: str | None = typer.Option(None, "--alias", help="Publish the version behind this alias."),
    model_store: str | None = typer.Option(
        None, "--model-store", help="Store URI (default: MODELYARD_MODEL_STORE_URI)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Copy a version's Triton repository to <store>/NAME/<version>/, the folder KServe serves;
    prints the URI to put in the chart's models.NAME.storageUri. Safe to repeat."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
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
