"""Every table yard prints is readable at 80 columns: no line is wider, and no id, URL, version or
metric is cut or folded across lines (rendered by rich into an 80-column console)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from modelyard.registry import ModelSummary, ResolvedVersion
from modelyard.registry.lineage import DATASET_DIGEST_TAG, GIT_COMMIT_TAG
from modelyard.registry.publish import STORAGE_URI_TAG
from modelyard.registry.registry import GATE_DECISION_TAG, GATE_METRIC_TAG, GATE_REASON_TAG
from serving.stack.client import Answer
from serving.stack.control import ChildHealth
from serving.stack.state import ChildState, ModelState, StackState
from yard.demo import Question, summary_table
from yard.query import render
from yard.registry import models_table, versions_view
from yard.serve import models_table as served_models_table
from yard.serve import processes_table

WIDTH = 80
RUN_ID = "843a790066a7400f8c3428e8ef1971ac"
DIGEST = "accd31436611bbb928e2f4af928d1ea2e9b77ab32be30ef77019b38454fd58ad"


def rendered(renderable: object) -> list[str]:
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def assert_readable(lines: list[str], *whole: str) -> None:
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, "\n".join(too_wide)
    cropped = [line for line in lines if "…" in line]  # rich's ellipsis: a cell was cut short
    assert not cropped, "\n".join(lines)
    cut = [token for token in whole if not any(token in line for line in lines)]
    assert not cut, f"cut or folded: {cut}\n" + "\n".join(lines)


def test_registry_list_keeps_names_aliases_and_metrics_whole() -> None:
    summaries = [
        ModelSummary(
            name=name,
            latest_version=12,
            version_count=12,
            aliases={"champion": 11, "challenger": 12, "previous": 9},
            metrics={"champion": {metric: 0.87861, f"baseline_{metric}": 0.81264, "train_loss": 3.7}},
            headline_metric=metric,
        )
        for name, metric in (
            ("visual-search", "precision_at_10"),
            ("a-model-with-a-longer-name", "accuracy"),
            ("moderation", "pr_auc"),
            ("ranking", "auc"),
        )
    ]
    assert_readable(
        rendered(models_table(summaries)),
        "visual-search", "12 versions, latest v12", "champion v11", "challenger v12", "previous v9",
        "precision_at_10", "0.8786 (baseline 0.8126)",
    )  # fmt: skip


def test_registry_show_wraps_between_metrics_never_inside_one() -> None:
    metrics = {
        f"spam_{kind}_at_{level}": 0.9655 for kind in ("precision", "recall") for level in ("block", "review")
    } | {"pr_auc": 0.9861, "baseline_pr_auc": 0.9889, "train_seconds": 102.1}
    version = ResolvedVersion(
        name="moderation",
        version=3,
        run_id=RUN_ID,
        source="mlflow-artifacts:/1/x/artifacts/model",
        aliases=["champion"],
        tags={
            DATASET_DIGEST_TAG: DIGEST,
            GIT_COMMIT_TAG: "914e3dba8b87c0ffee",
            GATE_METRIC_TAG: "spam_recall_at_review",
            GATE_DECISION_TAG: "champion",
            GATE_REASON_TAG: "spam_recall_at_review 0.9655 beats the champion's 0.9600 (tolerance 0.0)",
            STORAGE_URI_TAG: "s3://modelyard-models-with-a-long-bucket-name/moderation/3",
        },
        metrics=metrics,
    )
    lines = rendered(versions_view([version]))
    pairs = [f"{name}={value:.4g}" for name, value in metrics.items() if not name.startswith("baseline_")]
    assert_readable(
        lines, "moderation v3", RUN_ID, DIGEST[:12], "s3://modelyard-models-with-a-long-bucket-name/moderation/3",
        *pairs,
    )  # fmt: skip
    assert lines[1].split()[:2] == ["metrics", "spam_recall_at_review=0.9655"]  # the gated metric first


def _child(name: str, port: int) -> ChildHealth:
    return ChildHealth(name, 40321, True, True, "ready", 0, 316 * 1024, f"http://127.0.0.1:{port}")


def test_serve_status_keeps_process_names_and_urls_whole() -> None:
    health = [
        _child(name, 40000 + i)
        for i, name in enumerate(
            ("triton", "transformer-visual-search", "transformer-moderation.2", "gateway")
        )
    ]
    assert_readable(
        rendered(processes_table("ready", "http://127.0.0.1:8080", health)),
        "transformer-visual-search", "transformer-moderation.2", "http://127.0.0.1:40001", "40321",
    )  # fmt: skip


def test_the_served_models_table_keeps_triton_model_names_whole() -> None:
    models = {
        name: ModelState(
            name=name,
            version=12,
            run_id=RUN_ID,
            alias="champion",
            triton_models=triton_models,
            transformer=f"transformer-{name}",
            upstream_url="http://127.0.0.1:38487",
            artifact_dir="/x",
        )
        for name, triton_models in (
            ("ranking", {"ranking-ctr": [11, 12]}),
            ("visual-search", {"visual-search-encoder": [12]}),
        )
    }
    state = StackState(
        supervisor_pid=1,
        supervisor_start_ticks=1,
        started_at=0,
        host="127.0.0.1",
        gateway_url="http://127.0.0.1:8080",
        auth=True,
        api_key_file="/x/api_key",
        model_repository="/x",
        logs_dir="/x",
        models=models,
        skipped={"moderation": "no champion: train it first (yard train moderation)"},
        children={"gateway": ChildState(name="gateway", url="u", ready_url="u", ports={}, log="l")},
    )
    assert_readable(
        rendered(served_models_table(state)),
        "visual-search-encoder [12]", "ranking-ctr [11, 12]", "v12", "moderation",
    )  # fmt: skip


def _answer(model: str, body: dict) -> Answer:
    return Answer(model=model, version=12, request_id="r", latency_ms=12.3, body=body)


RANKING = {
    "predictions": [
        {
            "items": [
                {
                    "item_id": 474,
                    "title": "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb",
                    "score": 0.8768,
                    "genres": ["Action", "Adventure", "Romance", "Sci-Fi", "War"],
                }
            ],
            "cold_start": True,
        }
    ]
}
SEARCH = {
    "predictions": [
        [{"id": 69363, "score": 0.99921, "label": 9, "class_name": "Ankle boot", "split": "test"}]
    ]
}
MODERATION = {
    "predictions": [
        {
            "decision": "allow",
            "reason": "every score is below its review threshold: spam 0.000 < 0.118",
            "scores": {"spam": 0.0001},
        }
    ]
}


@pytest.mark.parametrize(
    ("model", "body", "whole"),
    [
        ("ranking", RANKING, ["474", "0.8768", "ranking v12"]),
        ("visual-search", SEARCH, ["69363", "0.9992", "Ankle boot"]),
        ("moderation", MODERATION, ["allow", "0.000", "moderation v12"]),
    ],
)
def test_query_answers_keep_ids_and_scores_whole(
    model: str, body: dict, whole: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None, force_terminal=False)
    monkeypatch.setattr("yard.query.console", console)
    render(_answer(model, body))
    assert_readable(console.file.getvalue().splitlines(), *whole)  # type: ignore[attr-defined]


def test_the_demo_summary_names_each_model_its_metric_and_its_answer() -> None:
    asked = [
        (
            Question("visual-search", "q", {}, lambda hits: f"{len(hits)} hits"),
            _answer("visual-search", SEARCH),
        ),
        (
            Question("ranking", "q", {}, lambda p: f"first {p['items'][0]['item_id']}"),
            _answer("ranking", RANKING),
        ),
    ]
    headlines = {"visual-search": "precision_at_10\n0.8786 (baseline 0.8126)", "ranking": "auc\n0.79"}
    lines = rendered(summary_table(asked, headlines))
    assert_readable(
        lines, "visual-search", "precision_at_10", "0.8786 (baseline 0.8126)", "1 hits", "first 474"
    )
    assert any("v12" in line for line in lines)
