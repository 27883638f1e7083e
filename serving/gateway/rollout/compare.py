"""How far a shadow answer is from the stable one, for the three models' answer shapes.

KServe V1 ``predictions`` are compared instance by instance: moderation by its decision,
ranking and visual search by their top-1 and top-k overlap; V2 ``outputs`` by equal
integer/string tensors. Score deltas are mean absolute differences of matching scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TOP_K_AGREEMENT = 0.5
"""Two rankings agree when their top-1 match and at least half of the top-k overlap."""


@dataclass(frozen=True)
class Comparison:
    agreement: float
    """Share of instances (or V2 outputs) on which both versions agree, 0..1."""
    score_delta: float | None
    """Mean absolute score difference (None: no comparable scores)."""


def compare_answers(stable: bytes, candidate: bytes) -> Comparison | None:
    """Agreement of two JSON answers; None when they cannot be compared (not JSON, other shape)."""
    try:
        left, right = json.loads(stable), json.loads(candidate)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(left, dict) or not isinstance(right, dict):
        return None
    if "predictions" in left and "predictions" in right:
        return _compare_instances(left["predictions"], right["predictions"])
    if "outputs" in left and "outputs" in right:
        return _compare_v2(left["outputs"], right["outputs"])
    return None


def _compare_instances(left: Any, right: Any) -> Comparison | None:
    if not isinstance(left, list) or not isinstance(right, list) or len(left) != len(right) or not left:
        return None
    pairs = [_compare_instance(a, b) for a, b in zip(left, right, strict=True)]
    agreement = sum(agree for agree, _ in pairs) / len(pairs)
    deltas = [delta for _, delta in pairs if delta is not None]
    return Comparison(agreement, sum(deltas) / len(deltas) if deltas else None)


def _compare_instance(left: Any, right: Any) -> tuple[bool, float | None]:
    if isinstance(left, dict) and "decision" in left:  # moderation
        return left["decision"] == _get(right, "decision"), _score_delta(
            left.get("scores"), _get(right, "scores")
        )
    ranked_left, ranked_right = _ranked(left), _ranked(right)
    if ranked_left is not None and ranked_right is not None:
        return _rankings_agree(ranked_left, ranked_right), _top1_score_delta(ranked_left, ranked_right)
    return left == right, _number_delta(left, right)


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _ranked(value: Any) -> list[tuple[Any, float | None]] | None:
    """``[(id, score)]`` of a ranking (``{"items": [...]}``) or a hit list (``[{"id": ...}]``)."""
    items = value.get("items") if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(it, dict) for it in items):
        return None
    ids = [it.get("item_id", it.get("id")) for it in items]
    if any(i is None for i in ids):
        return None
    return [(i, it.get("score")) for i, it in zip(ids, items, strict=True)]


def _rankings_agree(left: list[tuple[Any, float | None]], right: list[tuple[Any, float | None]]) -> bool:
    if not left or not right:
        return not left and not right
    k = max(len(left), len(right))
    overlap = len({i for i, _ in left} & {i for i, _ in right}) / k
    return left[0][0] == right[0][0] and overlap >= TOP_K_AGREEMENT


def _top1_score_delta(
    left: list[tuple[Any, float | None]], right: list[tuple[Any, float | None]]
) -> float | None:
    if not left or not right:
        return None
    return _number_delta(left[0][1], right[0][1])


def _score_delta(left: Any, right: Any) -> float | None:
    if not isinstance(left, dict) or not isinstance(right, dict):
        return None
    deltas = [
        d for key in left.keys() & right.keys() if (d := _number_delta(left[key], right[key])) is not None
    ]
    return sum(deltas) / len(deltas) if deltas else None


def _number_delta(left: Any, right: Any) -> float | None:
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool):
        return abs(float(left) - float(right))
    return None


def _compare_v2(left: Any, right: Any) -> Comparison | None:
    if not isinstance(left, list) or not isinstance(right, list):
        return None
    by_name = {o.get("name"): o for o in right if isinstance(o, dict)}
    agreements, deltas = [], []
    for output in left:
        other = by_name.get(output.get("name")) if isinstance(output, dict) else None
        if other is None:
            return None
        if str(output.get("datatype", "")).startswith("FP"):
            pairs = zip(output.get("data") or [], other.get("data") or [], strict=False)
            deltas += [d for a, b in pairs if (d := _number_delta(a, b)) is not None]
        else:
            agreements.append(output.get("data") == other.get("data"))
    if not agreements and not deltas:
        return None
    agreement = sum(agreements) / len(agreements) if agreements else 1.0
    return Comparison(agreement, sum(deltas) / len(deltas) if deltas else None)
