"""``yard index MODEL``: embed a registered model version's catalogue and make it searchable."""

from __future__ import annotations

import typer

from modelyard.errors import UsageError
from modelyard.settings import get_settings
from yard.output import console, emit_json

app = typer.Typer(
    help="Build the embedding index of a registered model version (Qdrant).",
    context_settings={"allow_interspersed_args": True},  # options may follow MODEL
)


@app.callback(invoke_without_command=True)
def index(
    model: str = typer.Argument(..., help="visual-search or ranking"),
    alias: str | None = typer.Option(None, "--alias", help="registry alias to index (default: champion)"),
    version: int | None = typer.Option(None, "--version", min=1, help="registry version to index"),
    keep: int = typer.Option(3, "--keep", min=1, help="versions kept for rollback; older ones are deleted"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="index only the first N rows (smoke runs)"),
    switch: bool = typer.Option(
        True, "--switch/--no-switch", help="make it live; --no-switch builds a canary's collection"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Index MODEL's version (default: its champion), switch its alias, then garbage-collect.

    With --no-switch the alias and older collections stay as they are (``yard rollout start`` builds
    a candidate's collection this way; promote switches)."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from embeddings import VectorStore
    from embeddings.indexer import index_model

    if alias and version:
        raise UsageError("--alias and --version exclude each other", hint="pass one of them")
    ref = f"{model}/{version}" if version else f"{model}@{alias or 'champion'}"
    settings = get_settings()
    store = VectorStore.from_settings(settings)
    collection = index_model(settings, model, ref, store, limit=limit, make_live=switch)
    deleted = store.gc(model, keep=keep) if switch else []
    result = {
        "model": model,
        "ref": ref,
        "collection": collection,
        "live_version": store.live_version(model),
        "deleted": deleted,
    }
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"[green]indexed[/] {ref} -> {collection} ({'live' if switch else 'not live'}); "
            f"deleted: {', '.join(deleted) or 'none'}"
        )
