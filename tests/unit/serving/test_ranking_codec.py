"""ranking request parsing, V2 encoding and the final re-ranking (no servers)."""

from __future__ import annotations

import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.transformer.codecs.ranking import (
    DEFAULT_N,
    MAX_CANDIDATES,
    RankedItem,
    Ranking,
    encode_v2,
    parse_v1,
    parse_v2,
    ranking_json,
)
from training.ranking.rerank import Scored, rerank

NOW = 893_286_638


def test_v1_single_query_with_defaults() -> None:
    [query] = parse_v1({"user_id": 42}, now=NOW)
    assert (query.user_id, query.candidates, query.timestamp, query.n) == (42, None, NOW, DEFAULT_N)


def test_v1_instances_with_candidates_deduped_in_order() -> None:
    queries = parse_v1(
        {
            "instances": [
                {"user_id": 1, "candidates": [5, 3, 5], "n": 2, "context": {"timestamp": 7}},
                {"user_id": 2},
            ]
        },
        now=NOW,
    )
    assert queries[0].candidates == [5, 3] and (queries[0].n, queries[0].timestamp) == (2, 7)
    assert queries[1].user_id == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '"user_id"'),
        ({"user_id": "42"}, "user_id"),
        ({"user_id": -1}, "user_id"),
        ({"user_id": 1.0}, "user_id"),
        ({"user_id": 1, "n": 0}, '"n"'),
        ({"user_id": 1, "n": 51}, '"n"'),
        ({"user_id": 1, "candidates": []}, "non-empty"),
        ({"user_id": 1, "candidates": "1,2"}, "non-empty list"),
        ({"user_id": 1, "candidates": [1, "x"]}, r"candidates\[1\]"),
        ({"user_id": 1, "candidates": list(range(MAX_CANDIDATES + 1))}, f"at most {MAX_CANDIDATES}"),
        ({"user_id": 1, "context": 5}, "context"),
        ({"user_id": 1, "context": {"time": 5}}, "unknown fields"),
        ({"user_id": 1, "context": {"timestamp": 1_700_000_000_000}}, "timestamp"),
        ({"user_id": 1, "filter": {}}, "unknown fields"),
        ({"instances": [{"user_id": 1}], "n": 3}, "unknown fields"),
        ({"instances": [5]}, "must be an object"),
        ({"instances": []}, "empty"),
    ],
)
def test_v1_rejects_with_a_message(body: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v1(body, now=NOW)


def _v2(inputs: list[dict], parameters: dict | None = None) -> InferRequest:
    payload = {"inputs": inputs, "parameters": parameters} if parameters else {"inputs": inputs}
    return InferRequest.from_inference_request(InferenceRequest.model_validate(payload), "ranking")


def test_v2_users_timestamps_and_padded_candidates() -> None:
    queries = parse_v2(
        _v2(
            [
                {"name": "user_id", "datatype": "INT64", "shape": [2], "data": [1, 2]},
                {"name": "timestamp", "datatype": "INT64", "shape": [2], "data": [10, 20]},
                {"name": "candidates", "datatype": "INT64", "shape": [2, 3], "data": [4, 5, -1, 6, -1, -1]},
            ],
            {"n": 2},
        ),
        now=NOW,
    )
    assert [(q.user_id, q.timestamp, q.candidates, q.n) for q in queries] == [
        (1, 10, [4, 5], 2),
        (2, 20, [6], 2),
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "user", "datatype": "INT64", "shape": [1], "data": [1]}], "unknown inputs"),
        ([{"name": "user_id", "datatype": "FP32", "shape": [1], "data": [1.0]}], "datatype"),
        ([{"name": "user_id", "datatype": "INT64", "shape": [1, 1], "data": [1]}], r"shape \[N\]"),
        (
            [
                {"name": "user_id", "datatype": "INT64", "shape": [2], "data": [1, 2]},
                {"name": "timestamp", "datatype": "INT64", "shape": [1], "data": [1]},
            ],
            "timestamp",
        ),
        (
            [
                {"name": "user_id", "datatype": "INT64", "shape": [1], "data": [1]},
                {"name": "candidates", "datatype": "INT64", "shape": [2], "data": [1, 2]},
            ],
            "candidates",
        ),
        (
            [
                {"name": "user_id", "datatype": "INT64", "shape": [1], "data": [1]},
                {"name": "candidates", "datatype": "INT64", "shape": [1, 2], "data": [-1, -1]},
            ],
            "non-empty",
        ),
    ],
)
def test_v2_rejects_bad_tensors(inputs: list[dict], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v2(_v2(inputs), now=NOW)


def test_v2_n_parameter_is_bounded() -> None:
    users = [{"name": "user_id", "datatype": "INT64", "shape": [1], "data": [1]}]
    with pytest.raises(InvalidInput, match="parameters.n"):
        parse_v2(_v2(users, {"n": 1000}), now=NOW)


def test_encodings_carry_items_and_cold_start() -> None:
    ranking = Ranking([RankedItem(7, "Heat", 0.8123456789, ["Action"])], cold_start=True, retrieval="popular")
    assert ranking_json(ranking) == {
        "items": [{"item_id": 7, "title": "Heat", "score": 0.812346, "genres": ["Action"]}],
        "cold_start": True,
        "retrieval": "popular",
    }
    body, _ = encode_v2([ranking], 2, "ranking", 3, "r").to_rest()
    outputs = {output["name"]: output["data"] for output in body["outputs"]}
    assert outputs["item_ids"] == [7, -1] and outputs["cold_start"] == [True]


def _scored(item_id: int, score: float, genre: str) -> Scored:
    return Scored(item_id, score, (genre,))


def test_rerank_orders_by_score_and_drops_seen_and_duplicates() -> None:
    items = [_scored(1, 0.2, "a"), _scored(2, 0.9, "b"), _scored(2, 0.1, "b"), _scored(3, 0.5, "c")]
    assert [s.item_id for s in rerank(items, n=5, seen={3})] == [2, 1]
    assert rerank(items, n=5)[0].score == 0.9  # the best copy of a duplicate wins


def test_rerank_caps_a_primary_genre_then_backfills() -> None:
    drama = [_scored(i, 1.0 - i / 100, "Drama") for i in range(5)]
    comedy = [_scored(10, 0.1, "Comedy")]
    ranked = [s.item_id for s in rerank(drama + comedy, n=5, max_per_genre=3)]
    assert ranked == [0, 1, 2, 10, 3]  # the comedy jumps the 4th drama; drama fills the rest
