"""moderation request parsing, validation and the allow / review / block decision (no servers)."""

from __future__ import annotations

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.transformer.codecs.common import MAX_INSTANCES
from serving.transformer.codecs.moderation import (
    MAX_TEXT_BYTES,
    Decision,
    HeadThresholds,
    decide,
    encode_v1,
    encode_v2,
    parse_v1,
    parse_v2,
    read_thresholds,
)

THRESHOLDS = {"spam": HeadThresholds(review=0.5, block=0.9)}


def test_v1_accepts_strings_and_text_objects() -> None:
    request = parse_v1({"instances": ["plain", {"text": "Subject: hi\n\nbody"}]})
    assert request.texts == ["plain", "Subject: hi\n\nbody"]


def test_v1_accepts_raw_json_bytes() -> None:
    assert parse_v1(b'{"instances": ["x"]}').texts == ["x"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        ([], "JSON object"),
        ({}, '"instances"'),
        ({"instances": "x"}, "must be a list"),
        ({"instances": []}, "empty"),
        ({"instances": ["x"] * (MAX_INSTANCES + 1)}, f"at most {MAX_INSTANCES}"),
        ({"instances": [""]}, "empty"),
        ({"instances": [" \n\t"]}, "empty"),
        ({"instances": [None]}, "string"),
        ({"instances": [{"body": "x"}]}, "unknown fields"),
        ({"instances": [{}]}, '"text"'),
        ({"instances": ["x" * (MAX_TEXT_BYTES + 1)]}, "bytes"),
        ({"instances": ["bad \ud800"]}, "UTF-8"),
        ({"instances": ["x"], "extra": 1}, "unknown fields"),
    ],
)
def test_v1_rejects_with_a_message(body: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v1(body)


def _v2(inputs: list[dict]) -> InferRequest:
    return InferRequest.from_inference_request(
        InferenceRequest.model_validate({"inputs": inputs}), "moderation"
    )


def test_v2_text_from_json_and_from_binary_bytes() -> None:
    assert parse_v2(_v2([{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a", "ö"]}])).texts == [
        "a",
        "ö",
    ]
    tensor = InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array(["grüß".encode()], dtype=np.object_), binary_data=False)
    assert parse_v2(InferRequest("moderation", [tensor])).texts == ["grüß"]


def test_v2_rejects_invalid_utf8_bytes() -> None:
    tensor = InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"\xff\xfe"], dtype=np.object_), binary_data=True)
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_v2(InferRequest("moderation", [tensor]))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "txt", "datatype": "BYTES", "shape": [1], "data": ["x"]}], "unknown inputs"),
        ([{"name": "text", "datatype": "INT64", "shape": [1], "data": [1]}], "datatype"),
        ([{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": ["x"]}], r"shape \[N\]"),
        ([{"name": "text", "datatype": "BYTES", "shape": [3], "data": ["x"]}], "shape"),
        ([{"name": "text", "datatype": "BYTES", "shape": [0], "data": []}], "empty"),
    ],
)
def test_v2_rejects_bad_tensors(inputs: list[dict], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v2(_v2(inputs))


@pytest.mark.parametrize(
    ("score", "decision", "reason"),
    [
        (0.1, "allow", "spam 0.100 < 0.500"),
        (0.5, "review", "spam score 0.500 >= review threshold 0.500"),
        (0.95, "block", "spam score 0.950 >= block threshold 0.900"),
    ],
)
def test_decision_and_its_reason(score: float, decision: str, reason: str) -> None:
    made = decide({"spam": score}, THRESHOLDS, words=100)
    assert (made.decision, made.scores) == (decision, {"spam": score})
    assert reason in made.reason


def test_the_strictest_head_wins_and_a_head_without_block_never_blocks() -> None:
    thresholds = {
        "spam": HeadThresholds(review=0.5, block=None),
        "abuse": HeadThresholds(review=0.3, block=0.6),
    }
    assert decide({"spam": 0.99, "abuse": 0.1}, thresholds, words=100).decision == "review"
    assert decide({"spam": 0.99, "abuse": 0.7}, thresholds, words=100).decision == "block"


def test_a_short_text_is_never_blocked_and_reviewed_at_its_own_threshold() -> None:
    thresholds = {"spam": HeadThresholds(review=0.4, block=0.6, short_words=20, short_review=0.5)}
    assert decide({"spam": 0.45}, thresholds, words=3).decision == "allow"
    assert decide({"spam": 0.45}, thresholds, words=20).decision == "review"
    made = decide({"spam": 0.99}, thresholds, words=3)
    assert made.decision == "review" and "0.500" in made.reason
    assert decide({"spam": 0.99}, thresholds, words=20).decision == "block"


def test_versions_without_a_short_text_rule_decide_as_before() -> None:
    thresholds = {"spam": HeadThresholds(review=0.4, block=0.6)}
    assert decide({"spam": 0.99}, thresholds, words=1).decision == "block"


def test_v1_answer_carries_the_thresholds_it_was_decided_at() -> None:
    [answer] = encode_v1([decide({"spam": 0.6}, THRESHOLDS, words=100)])
    assert answer["decision"] == "review"
    assert answer["thresholds"] == {"spam": {"review": 0.5, "block": 0.9}}


def test_a_short_text_answer_shows_the_short_text_thresholds() -> None:
    thresholds = {"spam": HeadThresholds(review=0.4, block=0.6, short_words=20, short_review=0.5)}
    [answer] = encode_v1([decide({"spam": 0.99}, thresholds, words=3)])
    assert answer["decision"] == "review"
    assert answer["thresholds"] == {"spam": {"review": 0.5, "block": None}}


def test_thresholds_file_must_cover_every_head() -> None:
    payload = {"spam": {"review": 0.2, "block": None, "val_precision_at_block": 0.0}}
    assert read_thresholds(payload, ["spam"]) == {"spam": HeadThresholds(0.2, None)}
    payload["spam"] |= {"short_words": 20, "short_review": 0.3}
    assert read_thresholds(payload, ["spam"]) == {"spam": HeadThresholds(0.2, None, 20, 0.3)}
    with pytest.raises(ValueError, match="abuse"):
        read_thresholds(payload, ["spam", "abuse"])


def test_v2_response_names_the_version() -> None:
    decision = Decision("block", "r", {"spam": 0.97}, THRESHOLDS)
    response = encode_v2([decision], ["spam"], "moderation", 4, "req-1")
    body, _ = response.to_rest()
    assert body["model_version"] == "4" and body["id"] == "req-1"
    outputs = {output["name"]: output for output in body["outputs"]}
    assert outputs["decision"]["data"] == ["block"]
    assert outputs["scores"]["shape"] == [1, 1]
