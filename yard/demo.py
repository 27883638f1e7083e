"""``yard demo``: start the stack, ask each model real questions, print the answers, stop; the
last screen sums up every model: the version that answered, its headline metric against the
baseline it was trained beside, and what it answered.

The questions come from the prepared datasets: a Fashion-MNIST test image, a spam and a ham
email from SpamAssassin, a known MovieLens user and an unknown one (cold start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from modelyard.settings import Settings, get_settings
from yard.output import console, err_console
from yard.query import moderation_body, ranking_body, render, visual_search_body

if TYPE_CHECKING:
    from serving.stack.client import Answer

app = typer.Typer(help="Serve, query each model once, and stop: the end of `make demo`.")

KNOWN_USER = 42
UNKNOWN_USER = 999_999
NEIGHBOURS = 5


@dataclass(frozen=True)
class Question:
    """One request of the demo and how its answer reads in the summary."""

    model: str
    title: str
    body: dict[str, Any]
    summarise: Callable[[dict[str, Any]], str]
    """First prediction -> one short line."""


@app.callback(invoke_without_command=True)
def demo(
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Gateway port (0: any free)."),
    ready_timeout: float = typer.Option(180.0, "--ready-timeout", min=1, help="Seconds to wait for ready."),
) -> None:
    """Start the stack, run one query per model (two for moderation and ranking), stop the stack."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.stack.client import GatewayClient, read_api_key
    from serving.stack.supervisor import ServeOptions, StackSupervisor
    from yard.serve import print_ready

    settings = get_settings()
    supervisor = StackSupervisor(
        settings, ServeOptions(gateway_port=port, ready_timeout_s=ready_timeout), err_console
    )
    answers: list[tuple[Question, Answer]] = []
    try:
        state = supervisor.start()
        print_ready(state)
        key = read_api_key(settings) if state.auth else None
        with GatewayClient(state.gateway_url, key) as client:
            for question in demo_questions(settings, list(state.models)):
                console.rule(question.title)
                answer = client.predict(question.model, question.body)
                render(answer)
                answers.append((question, answer))
    finally:
        with err_console.status("stopping the stack"):
            supervisor.stop()
    console.rule("summary")
    console.print(summary_table(answers, _headlines(answers)))
    console.print("[green]demo done[/]: the stack is stopped; `yard serve` keeps it running")


def summary_table(answers: list[tuple[Question, Answer]], headlines: dict[str, str]) -> Table:
    """One row per model: the version that answered, its headline metric, what it answered."""
    table = Table("model", "metric (baseline)", "answer", title_justify="left")
    table.columns[0].no_wrap = True
    table.columns[1].no_wrap = True
    by_model: dict[str, list[tuple[Question, Answer]]] = {}
    for question, answer in answers:
        by_model.setdefault(question.model, []).append((question, answer))
    for model, asked in by_model.items():
        version = asked[0][1].version
        lines = [question.summarise(answer.predictions[0]) for question, answer in asked]
        table.add_row(f"{model}\nv{version}", headlines.get(model, "-"), "\n".join(lines))
    return table


def _headlines(answers: list[tuple[Question, Answer]]) -> dict[str, str]:
    """Each answering version's headline metric against its baseline, from the registry."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.registry import Registry
    from modelyard.registry.registry import GATE_METRIC_TAG
    from yard.registry import headline_text

    registry = Registry()
    headlines = {}
    for model, version in {(q.model, a.version) for q, a in answers if a.version is not None}:
        record = registry.resolve(f"{model}/{version}")
        headlines[model] = headline_text(record.metrics, record.tags.get(GATE_METRIC_TAG), lines=2)
    return headlines


def demo_questions(settings: Settings, served: list[str]) -> Iterator[Question]:
    """The demo's questions for each served model, from the prepared datasets."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.data import catalog

    if "visual-search" in served:
        fashion = catalog.load("fashion-mnist", settings)
        wanted = fashion.classes[int(fashion.test_labels[0])]

        def same_class(hits: list[dict[str, Any]]) -> str:
            alike = sum(hit.get("class_name") == wanted for hit in hits)
            return f"test image 0 ({wanted}): {alike} of its {len(hits)} nearest are {wanted}"

        yield Question(
            "visual-search",
            f"visual-search: test image 0 ({wanted}), its {NEIGHBOURS} nearest items",
            visual_search_body(fashion.test_png(0), k=NEIGHBOURS),
            same_class,
        )
    if "moderation" in served:
        emails = catalog.load("spamassassin", settings).frame
        for group, kind in (("spam-2", "spam email"), ("easy-ham-2", "ham email")):
            row = emails[emails["group"] == group].iloc[-1]
            yield Question(
                "moderation",
                f"moderation: a {kind} ({row['id']})",
                moderation_body(row["text"]),
                lambda prediction, kind=kind: (
                    f"a {kind}: {prediction['decision']} "
                    f"(spam {prediction['scores'].get('spam', float('nan')):.2f})"
                ),
            )
    if "ranking" in served:
        for user, who in ((KNOWN_USER, f"user {KNOWN_USER}"), (UNKNOWN_USER, "an unknown user")):
            yield Question(
                "ranking",
                f"ranking: top 10 for {who}" + (f" ({user})" if user == UNKNOWN_USER else ""),
                ranking_body(user),
                lambda prediction, who=who: _ranking_line(who, prediction),
            )


def _ranking_line(who: str, prediction: dict[str, Any]) -> str:
    items = prediction.get("items") or [{"title": "nothing"}]
    source = "most clicked (cold start)" if prediction.get("cold_start") else "personal"
    return f"{who}: {source}, first {items[0]['title']}"
