"""``yard demo``: start the stack, ask each model one real question, print the answers, stop.

The questions come from the prepared datasets: a Fashion-MNIST test image, a spam and a ham
email from SpamAssassin, a known MovieLens user and an unknown one (cold start).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import typer

from modelyard.cli.output import console, err_console
from modelyard.cli.query import moderation_body, ranking_body, render, visual_search_body
from modelyard.settings import Settings, get_settings

app = typer.Typer(help="Serve, query each model once, and stop: the end of `make demo`.")

KNOWN_USER = 42
UNKNOWN_USER = 999_999
NEIGHBOURS = 5


@app.callback(invoke_without_command=True)
def demo(
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Gateway port (0: any free)."),
    ready_timeout: float = typer.Option(180.0, "--ready-timeout", min=1, help="Seconds to wait for ready."),
) -> None:
    """Start the stack, run one query per model (two for moderation and ranking), stop the stack."""
    from modelyard.cli.serve import print_ready
    from serving.stack.client import GatewayClient, read_api_key
    from serving.stack.supervisor import ServeOptions, StackSupervisor

    settings = get_settings()
    supervisor = StackSupervisor(
        settings, ServeOptions(gateway_port=port, ready_timeout_s=ready_timeout), err_console
    )
    try:
        state = supervisor.start()
        print_ready(state)
        key = read_api_key(settings) if state.auth else None
        with GatewayClient(state.gateway_url, key) as client:
            for question, model, body in demo_questions(settings, list(state.models)):
                console.rule(question)
                render(client.predict(model, body))
    finally:
        with err_console.status("stopping the stack"):
            supervisor.stop()
    console.print("[green]demo done[/]: the stack is stopped; `yard serve` keeps it running")


def demo_questions(settings: Settings, served: list[str]) -> Iterator[tuple[str, str, dict]]:
    """(question, model, V1 body) for each served model, from the prepared datasets."""
    from modelyard.data import catalog

    if "visual-search" in served:
        fashion = catalog.load("fashion-mnist", settings)
        label = int(fashion.test_labels[0])
        yield (
            f"visual-search: test image 0 (class {fashion.classes[label]}), its {NEIGHBOURS} nearest items",
            "visual-search",
            visual_search_body(png_bytes(fashion.test_images[0]), k=NEIGHBOURS),
        )
    if "moderation" in served:
        emails = catalog.load("spamassassin", settings).frame
        for group, kind in (("spam-2", "a spam email"), ("easy-ham-2", "a ham email")):
            row = emails[emails["group"] == group].iloc[-1]
            yield f"moderation: {kind} ({row['id']})", "moderation", moderation_body(row["text"])
    if "ranking" in served:
        yield f"ranking: top 10 for user {KNOWN_USER}", "ranking", ranking_body(KNOWN_USER)
        yield f"ranking: an unknown user ({UNKNOWN_USER})", "ranking", ranking_body(UNKNOWN_USER)


def png_bytes(pixels) -> bytes:
    """A 28x28 uint8 array as PNG (what a client would upload)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
