"""ranking requests and responses.

V1: one query ``{"user_id": 42, "candidates": [item ids], "context": {"timestamp": unix s},
"n": 10}`` or ``{"instances": [query, ...]}``. V2: inputs ``user_id`` INT64 [N], optional
``timestamp`` INT64 [N] and ``candidates`` INT64 [N, C] (-1 pads shorter rows); parameter ``n``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse

from serving.transformer.codecs.common import (
    as_json_object,
    bounded_int,
    check_count,
    instance_list,
    item_id,
    optional_parameter,
    reject_unknown_inputs,
    reject_unknown_keys,
    v2_array,
    v2_input,
    v2_response,
)

MAX_N = 50
DEFAULT_N = 10
MAX_CANDIDATES = 500
MAX_TIMESTAMP = 4_102_444_800
"""2100-01-01: a later 'timestamp' is a unit mistake (milliseconds), not a date."""
QUERY_KEYS = {"user_id", "candidates", "context", "n"}
INT_DTYPES = ("INT64", "INT32", "UINT64", "UINT32")


@dataclass(frozen=True)
class RankingQuery:
    user_id: int
    candidates: list[int] | None
    """Explicit items to rank; None: retrieve candidates from the user's history (or popular items)."""
    timestamp: int
    n: int


@dataclass(frozen=True)
class RankedItem:
    item_id: int
    title: str
    score: float
    genres: list[str]


Retrieval = Literal["history", "popular", "given"]
"""Where a ranking's candidates came from: the nearest items to the user's history vector (a user
with a history in the version), the most clicked items (an unknown user: cold start) or the
request's own ``candidates``; the click model
then scores them and the re-ranker picks the top n."""


@dataclass(frozen=True)
class Ranking:
    items: list[RankedItem]
    cold_start: bool
    retrieval: Retrieval


def parse_v1(body: Any, now: float | None = None) -> list[RankingQuery]:
    payload = as_json_object(body)
    now = int(time.time() if now is None else now)
    if "instances" in payload:
        reject_unknown_keys(payload, {"instances"})
        return [_query_of(item, f"instances[{i}].", now) for i, item in enumerate(instance_list(payload))]
    return [_query_of(payload, "", now)]


def _query_of(item: Any, prefix: str, now: int) -> RankingQuery:
    """``prefix`` names the query in messages: "" for a single query, "instances[3]." in a list."""
    where = prefix.rstrip(".") or "the request"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object with user_id, optional candidates, context and n")
    reject_unknown_keys(item, QUERY_KEYS, where)
    if "user_id" not in item:
        raise InvalidInput(f'{where} needs "user_id"')
    context = item.get("context", {})
    if not isinstance(context, dict):
        raise InvalidInput(f'{prefix}context must be an object like {{"timestamp": 893286638}}')
    reject_unknown_keys(context, {"timestamp"}, f"{prefix}context")
    timestamp = context.get("timestamp", now)
    return RankingQuery(
        user_id=item_id(item["user_id"], f"{prefix}user_id"),
        candidates=_candidates(item.get("candidates"), f"{prefix}candidates"),
        timestamp=bounded_int(timestamp, f"{prefix}context.timestamp", 0, MAX_TIMESTAMP),
        n=bounded_int(item.get("n", DEFAULT_N), f"{prefix}n", 1, MAX_N),
    )


def _candidates(value: Any, where: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where} must be a non-empty list of item ids (or left out)")
    if len(value) > MAX_CANDIDATES:
        raise InvalidInput(f"{where} has {len(value)} items; at most {MAX_CANDIDATES}")
    return list(dict.fromkeys(item_id(v, f"{where}[{i}]") for i, v in enumerate(value)))


def parse_v2(request: InferRequest, now: float | None = None) -> list[RankingQuery]:
    reject_unknown_inputs(request, {"user_id", "timestamp", "candidates"})
    users = v2_array(v2_input(request, "user_id", INT_DTYPES))
    if users.ndim != 1:
        raise InvalidInput(f'input "user_id" must have shape [N], got {list(users.shape)}')
    check_count(len(users), "user_id")
    n = optional_parameter(request.parameters, "n", DEFAULT_N, 1, MAX_N)
    timestamps = np.full(len(users), int(time.time() if now is None else now), dtype=np.int64)
    if "timestamp" in {tensor.name for tensor in request.inputs}:
        timestamps = v2_array(v2_input(request, "timestamp", INT_DTYPES)).reshape(-1)
        if len(timestamps) != len(users):
            raise InvalidInput(f'input "timestamp" has {len(timestamps)} values for {len(users)} users')
    candidates: list[list[int] | None] = [None] * len(users)
    if "candidates" in {tensor.name for tensor in request.inputs}:
        matrix = v2_array(v2_input(request, "candidates", INT_DTYPES))
        if matrix.ndim != 2 or len(matrix) != len(users):
            raise InvalidInput(
                f'input "candidates" must have shape [{len(users)}, C], got {list(matrix.shape)}'
            )
        candidates = [
            _candidates([int(v) for v in row if v >= 0], f"candidates[{i}]") for i, row in enumerate(matrix)
        ]
    return [
        RankingQuery(
            user_id=item_id(int(user), f"user_id[{i}]"),
            candidates=candidates[i],
            timestamp=bounded_int(int(timestamps[i]), f"timestamp[{i}]", 0, MAX_TIMESTAMP),
            n=n,
        )
        for i, user in enumerate(users)
    ]


def ranking_json(ranking: Ranking) -> dict[str, Any]:
    return {
        "items": [
            {"item_id": it.item_id, "title": it.title, "score": round(it.score, 6), "genres": it.genres}
            for it in ranking.items
        ],
        "cold_start": ranking.cold_start,
        "retrieval": ranking.retrieval,
    }


def encode_v2(rankings: list[Ranking], n: int, model: str, version: int, request_id: str) -> InferResponse:
    """Outputs ``item_ids`` INT64 [N, n] (-1 pads), ``scores`` FP32 [N, n], ``cold_start`` BOOL [N]."""
    ids = np.full((len(rankings), n), -1, dtype=np.int64)
    scores = np.zeros((len(rankings), n), dtype=np.float32)
    for row, ranking in enumerate(rankings):
        for column, item in enumerate(ranking.items[:n]):
            ids[row, column], scores[row, column] = item.item_id, item.score
    cold = np.array([r.cold_start for r in rankings], dtype=bool)
    tensors = [("item_ids", ids, "INT64"), ("scores", scores, "FP32"), ("cold_start", cold, "BOOL")]
    return v2_response(tensors, model, version, request_id)
