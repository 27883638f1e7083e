"""Feedback routes on the gateway (in-process, real writer and files): authenticated like
predictions, validated with 4xx naming the field, written as rows the readers give back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelyard.payloads import ParquetSink, SinkOptions, read_feedback
from modelyard.settings import Settings
from tests.unit.serving.gateway_harness import ADMIN, GatewayFactory

pytestmark = pytest.mark.anyio
RANKING = "/v1/models/ranking/feedback"
MODERATION = "/v1/models/moderation/feedback"
CLICK = {"request_id": "req-1", "user": 12, "item": 345, "clicked": True}


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path)


async def test_feedback_is_accepted_and_read_back(gateway: GatewayFactory, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with gateway(feedback_dir=settings.feedback_dir) as client:
        ranked = await client.post(RANKING, json=CLICK)
        labelled = await client.post(MODERATION, json={"request_id": "req-2", "label": 1})
        assert (ranked.status_code, ranked.json()) == (202, {"accepted": 1})
        assert (labelled.status_code, labelled.json()) == (202, {"accepted": 1})
        metrics = (await client.get("/metrics", headers=ADMIN)).text
    clicks = read_feedback(settings, "ranking").to_pylist()  # the gateway's shutdown wrote them
    assert len(clicks) == 1
    assert {k: clicks[0][k] for k in (*CLICK, "model", "label")} == {
        **CLICK,
        "model": "ranking",
        "label": None,
    }
    labels = read_feedback(settings, "moderation").to_pylist()
    assert [(r["request_id"], r["label"], r["clicked"]) for r in labels] == [("req-2", 1, None)]
    assert (
        'modelyard_gateway_feedback_rows_total{model="ranking",outcome="written"}' not in metrics
    )  # not yet
    assert "modelyard_gateway_feedback_rows" in metrics


async def test_feedback_needs_the_api_key(gateway: GatewayFactory, tmp_path: Path) -> None:
    async with gateway(authenticated=False, feedback_dir=tmp_path) as client:
        refused = await client.post(RANKING, json=CLICK)
        assert refused.status_code == 401 and "API key" in refused.json()["error"]
    assert not list(tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (RANKING, {**CLICK, "clicked": "yes"}, 422, "clicked"),
        (RANKING, {**CLICK, "user": "12"}, 422, "user"),
        (RANKING, {**CLICK, "item": -1}, 422, "item"),
        (RANKING, {k: v for k, v in CLICK.items() if k != "request_id"}, 422, "request_id: Field required"),
        (RANKING, {**CLICK, "api_key": "x"}, 422, "api_key: Extra inputs are not permitted"),
        (MODERATION, {"request_id": "r", "label": 2}, 422, "label"),
        (MODERATION, {"request_id": "r", "label": True}, 422, "label"),
        (MODERATION, {"request_id": "", "label": 1}, 422, "request_id"),
        (MODERATION, {"request_id": "has space", "label": 1}, 422, "request_id"),
        (MODERATION, ["not", "an", "object"], 422, "bad moderation feedback"),
        ("/v1/models/visual-search/feedback", CLICK, 404, "takes no feedback"),
        ("/v1/models/nope/feedback", CLICK, 404, "unknown model 'nope'"),
    ],
)
async def test_bad_feedback_is_a_clear_4xx(
    gateway: GatewayFactory, tmp_path: Path, path: str, body: object, status: int, message: str
) -> None:
    async with gateway(feedback_dir=tmp_path) as client:
        answer = await client.post(path, json=body)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert not list(tmp_path.rglob("*.parquet"))


async def test_malformed_json_and_oversized_bodies_are_refused(
    gateway: GatewayFactory, tmp_path: Path
) -> None:
    async with gateway(feedback_dir=tmp_path, max_body_bytes=200) as client:
        malformed = await client.post(RANKING, content=b"{nope", headers={"content-type": "application/json"})
        huge = await client.post(MODERATION, json={"request_id": "r" * 300, "label": 1})
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    assert huge.status_code == 413


async def test_a_full_feedback_queue_answers_503_not_accepted(
    gateway: GatewayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    run = ParquetSink._run
    monkeypatch.setattr(ParquetSink, "_run", lambda sink: (release.wait(), run(sink)))  # a stalled disk
    async with gateway(feedback_dir=tmp_path, feedback_sink=SinkOptions(queue_size=1)) as client:
        answers = [(await client.post(RANKING, json=CLICK)).status_code for _ in range(3)]
        full = await client.post(RANKING, json=CLICK)
        release.set()
        metrics = (await client.get("/metrics", headers=ADMIN)).text
    assert answers == [202, 503, 503]
    assert "the feedback log is full" in full.json()["error"]
    assert 'modelyard_gateway_feedback_rows_total{model="ranking",outcome="dropped"} 3.0' in metrics
    written = read_feedback(Settings(state_dir=tmp_path, feedback_dir=tmp_path), "ranking")
    assert written.num_rows == 1  # the one accepted, written at shutdown


async def test_a_gateway_without_feedback_dir_answers_503(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        answer = await client.post(MODERATION, json={"request_id": "r", "label": 0})
    assert answer.status_code == 503 and "keeps no feedback" in answer.json()["error"]
