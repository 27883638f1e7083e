"""Payload and feedback logs on the real stack (``served_stack``): what each transformer saw and
answered comes back from the Parquet files, feedback joins it by request id, and an unwritable log
folder costs log rows (counted in the transformer's /metrics), never an answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelyard.data import load
from modelyard.payloads import read_feedback, read_payloads
from serving.stack.client import read_api_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ_BACK_TIMEOUT_S = 20.0
"""The stack's writers start a file a second after its first row (MODELYARD_PAYLOAD_FILE_AGE_S)."""
SPAM = "CLICK HERE to claim your FREE prize!!! Limited offer, act now: cheap pills, no prescription"


@pytest.fixture(scope="module")
def gateway(served_stack) -> Iterator[httpx.Client]:
    settings, state, _ = served_stack
    key = read_api_key(settings)
    with httpx.Client(base_url=state.gateway_url, headers={"x-api-key": key}, timeout=60) as client:
        yield client


def _served(served_stack, model: str) -> None:
    _, state, untrained = served_stack
    if model in untrained:
        pytest.skip(f"{model} is not served: {untrained[model]}")


def _predict(gateway: httpx.Client, model: str, body: dict, request_id: str) -> list:
    answer = gateway.post(f"/v1/models/{model}:predict", json=body, headers={"x-request-id": request_id})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def _rows_of(read: Callable[[], pa.Table], request_ids: set[str], expected: int) -> list[dict]:
    """Poll the log until ``expected`` rows of ``request_ids`` are there."""
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    while True:
        rows = [row for row in read().to_pylist() if row["request_id"] in request_ids]
        if len(rows) >= expected or time.monotonic() > deadline:
            return sorted(rows, key=lambda row: (row["request_id"], row.get("index") or 0))
        time.sleep(0.3)


def _payload_rows(transformer_url: str, model: str, outcome: str) -> float:
    text = httpx.get(f"{transformer_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "modelyard_transformer_payload_rows_total"
                and sample.labels.get("model") == model
                and sample.labels.get("outcome") == outcome
            ):
                return sample.value
    return 0.0


def test_moderation_payloads_and_labels_come_back_joined(served_stack, gateway) -> None:
    _served(served_stack, "moderation")
    settings, state, _ = served_stack
    since = time.time() - 1
    tag = f"mod{int(since)}"
    answers = {
        f"{tag}-{i}": _predict(
            gateway, "moderation", {"instances": [{"text": SPAM}, {"text": "lunch at 1?"}]}, f"{tag}-{i}"
        )
        for i in range(3)
    }
    labelled = gateway.post("/v1/models/moderation/feedback", json={"request_id": f"{tag}-0", "label": 1})
    assert (labelled.status_code, labelled.json()) == (202, {"accepted": 1})

    rows = _rows_of(lambda: read_payloads(settings, "moderation", since=since), set(answers), 6)
    assert len(rows) == 6
    for row in rows:
        answer = answers[row["request_id"]][row["index"]]
        assert row["version"] == str(state.models["moderation"].version)
        assert row["decision"] == answer["decision"]
        assert row["scores"] == pytest.approx(list(answer["scores"].values()), abs=1e-5)
        assert row["text"] and row["latency_ms"] > 0
    assert "prize" in rows[0]["text"].lower() and "lunch" in rows[1]["text"].lower()
    assert read_api_key(settings) not in str(rows)

    feedback = _rows_of(lambda: read_feedback(settings, "moderation", since=since), {f"{tag}-0"}, 1)
    assert [(f["request_id"], f["label"]) for f in feedback] == [(f"{tag}-0", 1)]


def test_visual_search_payloads_hold_pixels_vectors_and_hit_scores(served_stack, gateway) -> None:
    _served(served_stack, "visual-search")
    settings, _, _ = served_stack
    images = load("fashion-mnist", settings).test_images[:2]
    since = time.time() - 1
    tag = f"vis{int(since)}"
    body = {"instances": [{"pixels": (image / 255.0).tolist()} for image in images], "k": 4}
    answers = {f"{tag}-{i}": _predict(gateway, "visual-search", body, f"{tag}-{i}") for i in range(2)}

    rows = _rows_of(lambda: read_payloads(settings, "visual-search", since=since), set(answers), 4)
    assert len(rows) == 4
    for row in rows:
        hits = answers[row["request_id"]][row["index"]]
        assert len(row["pixels"]) == 28 * 28
        assert row["pixels"] == pytest.approx((images[row["index"]] / 255.0).reshape(-1).tolist(), abs=1e-5)
        assert len(row["embedding"]) > 0
        assert row["scores"] == pytest.approx([hit["score"] for hit in hits], abs=1e-5)


def test_ranking_payloads_and_clicks_come_back_joined(served_stack, gateway) -> None:
    _served(served_stack, "ranking")
    settings, _, _ = served_stack
    since = time.time() - 1
    tag = f"rank{int(since)}"
    answers = {
        f"{tag}-{i}": _predict(gateway, "ranking", {"user_id": 40 + i, "n": 5}, f"{tag}-{i}")
        for i in range(3)
    }
    first = answers[f"{tag}-0"][0]["items"][0]["item_id"]
    click = {"request_id": f"{tag}-0", "user": 40, "item": first, "clicked": True}
    assert gateway.post("/v1/models/ranking/feedback", json=click).status_code == 202

    rows = _rows_of(lambda: read_payloads(settings, "ranking", since=since), set(answers), 3)
    assert [row["user"] for row in rows] == [40, 41, 42]
    for row in rows:
        items = answers[row["request_id"]][0]["items"]
        assert row["items"] == [item["item_id"] for item in items]
        assert row["scores"] == pytest.approx([item["score"] for item in items], abs=1e-5)

    feedback = _rows_of(lambda: read_feedback(settings, "ranking", since=since), {f"{tag}-0"}, 1)
    assert [(f["user"], f["item"], f["clicked"]) for f in feedback] == [(40, first, True)]
    joined = [row for row in rows if row["request_id"] == feedback[0]["request_id"]]
    assert feedback[0]["item"] in joined[0]["items"]


def test_an_unwritable_log_folder_keeps_answers_200_and_counts_failures(served_stack, gateway) -> None:
    _served(served_stack, "moderation")
    settings, state, _ = served_stack
    served = state.models["moderation"]
    transformer_url = served.upstream_url
    folder = settings.payload_dir / "moderation" / f"v{served.version}"
    aside = folder.with_name(f"{folder.name}.aside")
    before = _payload_rows(transformer_url, "moderation", "failed")
    folder.rename(aside)
    folder.write_text("a file where the version's log folder should be")
    try:
        for i in range(5):
            _predict(gateway, "moderation", {"instances": [{"text": f"hello {i}"}]}, f"unwritable-{i}")
        deadline = time.monotonic() + READ_BACK_TIMEOUT_S
        while _payload_rows(transformer_url, "moderation", "failed") < before + 5:
            assert time.monotonic() < deadline, "the failed rows were never counted"
            time.sleep(0.3)
        assert gateway.get("/v2/health/ready").status_code == 200
        _predict(gateway, "moderation", {"instances": [{"text": "still answering"}]}, "unwritable-after")
    finally:
        folder.unlink()
        aside.rename(folder)
