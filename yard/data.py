"""``yard data``: prepare, list and verify the datasets the three models train on."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from modelyard import data
from yard.output import console, emit_json

app = typer.Typer(help="Prepare, list and verify datasets.", no_args_is_help=True)

_NAME_HELP = f"Dataset: one of {', '.join(data.DATASETS)}."


def _rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in rows.items()) or "-"


@app.command()
def prepare(
    name: str | None = typer.Argument(None, help=f"{_NAME_HELP} Omit for all."),
    source: Path | None = typer.Option(
        None, "--source", help="Your own copy of the raw files, in the same layout as the source package."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the manifest still matches."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifests as JSON."),
) -> None:
    """Materialise datasets with a manifest (skips any that are already up to date)."""
    manifests = data.prepare(name, source=source, force=force)
    if as_json:
        emit_json([manifest.model_dump() for manifest in manifests])
        return
    for manifest in manifests:
        rows = _rows(manifest.rows)
        console.print(f"[green]ready[/] {manifest.name} ({manifest.digest[:12]}): {rows}", highlight=False)


@app.command("list")
def list_datasets(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show each dataset: prepared or not, rows, digest, and whether its source is installed."""
    statuses = data.status()
    if as_json:
        emit_json([asdict(status) for status in statuses])
        return
    table = Table("name", "prepared", "rows", "digest", "source")
    for status in statuses:
        table.add_row(
            status.name,
            "yes" if status.prepared else "no",
            _rows(status.rows),
            (status.digest or "-")[:12],
            status.source or "[yellow]not installed[/]",
        )
    console.print(table)


@app.command()
def verify(
    name: str | None = typer.Argument(None, help=f"{_NAME_HELP} Omit for every prepared one."),
) -> None:
    """Re-hash prepared datasets against their manifests; fails naming any changed file."""
    manifests = data.verify_prepared(name)
    for manifest in manifests:
        files = len(manifest.files)
        console.print(f"[green]ok[/] {manifest.name}: {files} files match, digest {manifest.digest[:12]}")
    if not manifests:
        console.print("nothing prepared yet: run `yard data prepare`")


@app.command()
def image(
    index: int = typer.Argument(..., min=0, help="Fashion-MNIST test image number (4 is a shirt)."),
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write the PNG."),
) -> None:
    """Write a Fashion-MNIST test image as PNG: a query for visual search (yard query, curl)."""
    fashion = data.load("fashion-mnist")
    file.write_bytes(fashion.test_png(index))
    label = int(fashion.test_labels[index])
    console.print(
        f"wrote {file}: test image {index}, a {fashion.classes[label]} (label {label})", highlight=False
    )
