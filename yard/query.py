"""``yard query MODEL ...``: one request through the gateway, answered as a table.

Every table names the model and the version that answered (the gateway's
``x-modelyard-version`` header), so a rollout is visible from the command line.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelyard.errors import DataError, UsageError
from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console

app = typer.Typer(help="Query a served model through the gateway (yard serve must be running).")

_JSON = typer.Option(False, "--json", help="Print the raw answer as JSON.")
_GATEWAY = typer.Option(
    None, "--gateway", help="Gateway URL (default: the running stack's, from stack.json)."
)
_URL = typer.Option(None, "--url", hidden=True, help="Deprecated name of --gateway.")


# --- request bodies (KServe V1, the transformers' formats) ---------------------------------


def visual_search_body(
    image: bytes | None = None,
    point_id: int | None = None,
    k: int = 10,
    label: int | None = None,
    similarity: bool = False,
) -> dict[str, Any]:
    """Search by an encoded PNG/JPEG or by the id of an indexed image; ``label`` filters hits,
    ``similarity`` orders them by score alone instead of the voted class first."""
    if (image is None) == (point_id is None):
        raise UsageError(
            "give exactly one of --image FILE or --id N", hint="yard query visual-search --image x.png"
        )
    instance = {"id": point_id} if point_id is not None else {"image_b64": base64.b64encode(image).decode()}
    body: dict[str, Any] = {"instances": [instance], "k": k}
    if label is not None:
        body["filter"] = {"label": label}
    if similarity:
        body["order"] = "similarity"
    return body


def moderation_body(text: str) -> dict[str, Any]:
    """One text or raw RFC 822 email."""
    return {"instances": [{"text": text}]}


def ranking_body(user_id: int, n: int = 10) -> dict[str, Any]:
    """Top-``n`` items for a user (unknown users get popular items: ``cold_start``)."""
    return {"user_id": user_id, "n": n}


# --- commands ---------------------------------------------------------------------------


@app.command("visual-search")
def visual_search(
    image: Path | None = typer.Option(None, "--image", exists=True, dir_okay=False, help="PNG or JPEG file."),
    point_id: int | None = typer.Option(None, "--id", min=0, help="Id of an indexed image: more like it."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="How many neighbours."),
    label: int | None = typer.Option(None, "--label", min=0, max=9, help="Only hits of this class."),
    similarity: bool = typer.Option(
        False, "--similarity", help="Order by score alone (default: the neighbours' voted class first)."
    ),
    gateway: str | None = _GATEWAY,
    url: str | None = _URL,
    as_json: bool = _JSON,
) -> None:
    """Nearest Fashion-MNIST items to an image (or to an indexed item)."""
    body = visual_search_body(image.read_bytes() if image else None, point_id, k, label, similarity)
    _ask("visual-search", body, _gateway_url(gateway, url), as_json)


@app.command()
def moderation(
    text: str | None = typer.Option(None, "--text", help="Text to moderate."),
    file: Path | None = typer.Option(None, "--file", exists=True, dir_okay=False, help="A raw email (.eml)."),
    gateway: str | None = _GATEWAY,
    url: str | None = _URL,
    as_json: bool = _JSON,
) -> None:
    """allow / review / block for a text or an email, with the scores behind it."""
    if (text is None) == (file is None):
        raise UsageError("give exactly one of --text or --file", hint='yard query moderation --text "hello"')
    body = moderation_body(text if text is not None else _read_text(file))
    _ask("moderation", body, _gateway_url(gateway, url), as_json)


@app.command()
def ranking(
    user: int = typer.Option(..., "--user", min=0, help="MovieLens user id (unknown ids: cold start)."),
    n: int = typer.Option(10, "--n", min=1, max=50, help="How many items."),
    gateway: str | None = _GATEWAY,
    url: str | None = _URL,
    as_json: bool = _JSON,
) -> None:
    """Top-N movies for a user."""
    _ask("ranking", ranking_body(user, n), _gateway_url(gateway, url), as_json)


def _gateway_url(gateway: str | None, url: str | None) -> str | None:
    """``--gateway``, as ``yard rollout`` names it; ``--url`` still works, with a warning."""
    if url is None:
        return gateway
    if gateway is not None:
        raise UsageError("give --gateway only (--url is its old name)", hint="drop --url")
    err_console.print("[yellow]warning:[/] --url is deprecated; use --gateway")
    return url


def _ask(model: str, body: dict[str, Any], url: str | None, as_json: bool) -> None:
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.stack.client import GatewayClient

    with GatewayClient.from_settings(get_settings(), url) as client:
        answer = client.predict(model, body)
    if as_json:
        emit_json(
            {
                "model": answer.model,
                "version": answer.version,
                "request_id": answer.request_id,
                "latency_ms": answer.latency_ms,
                "answer": answer.body,
            }
        )
    else:
        render(answer)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}", hint="pass a readable file") from exc


# --- rendering --------------------------------------------------------------------------


def render(answer) -> None:
    """Print one answer as a table titled with the model and version that produced it."""
    version = "?" if answer.version is None else answer.version
    title = f"{answer.model} v{version} ({answer.latency_ms:.0f} ms)"
    renderer = _RENDERERS.get(answer.model)
    for prediction in answer.predictions:
        if renderer is None:
            console.print(title, prediction)
        else:
            console.print(renderer(prediction, title))


def _table(title: str, *columns: str, wrap: tuple[str, ...] = ()) -> Table:
    """Columns hold ids and numbers whole (``no_wrap``); only those in ``wrap`` (prose) wrap."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column not in wrap)
    return table


def _visual_search_table(prediction: list[dict[str, Any]], title: str) -> Table:
    table = _table(title, "#", "id", "class", "label", "score", "split", wrap=("class",))
    for rank, hit in enumerate(prediction, 1):
        table.add_row(
            str(rank), str(hit["id"]), str(hit.get("class_name")), str(hit.get("label")),
            f"{hit['score']:.4f}", str(hit.get("split")),
        )  # fmt: skip
    return table


def _moderation_table(prediction: dict[str, Any], title: str) -> Table:
    colour = {"allow": "green", "review": "yellow", "block": "red"}.get(prediction["decision"], "white")
    table = _table(title, "decision", "reason", *prediction["scores"], wrap=("reason",))
    scores = [f"{value:.3f}" for value in prediction["scores"].values()]
    table.add_row(f"[{colour}]{prediction['decision']}[/]", prediction["reason"], *scores)
    return table


def _ranking_table(prediction: dict[str, Any], title: str) -> Table:
    if prediction.get("cold_start"):
        title += "  [yellow]cold start: popular items[/]"
    table = _table(title, "#", "item", "title", "score", "genres", wrap=("title", "genres"))
    for rank, item in enumerate(prediction["items"], 1):
        table.add_row(
            str(rank), str(item["item_id"]), item["title"], f"{item['score']:.4f}", ", ".join(item["genres"])
        )
    return table


_RENDERERS = {
    "visual-search": _visual_search_table,
    "moderation": _moderation_table,
    "ranking": _ranking_table,
}
