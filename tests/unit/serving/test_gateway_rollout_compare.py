"""Shadow agreement on the three models' answer shapes."""

from __future__ import annotations

import json

import pytest

from serving.gateway.rollout.compare import compare_answers


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def moderation(*decisions: tuple[str, float]) -> bytes:
    return body({"predictions": [{"decision": d, "reason": "", "scores": {"spam": s}} for d, s in decisions]})


def ranking(*ids: int) -> bytes:
    return body(
        {"predictions": [{"items": [{"item_id": i, "score": 1.0 / (n + 1)} for n, i in enumerate(ids)]}]}
    )


def test_moderation_agrees_on_the_decision_and_measures_the_score_delta() -> None:
    result = compare_answers(
        moderation(("allow", 0.1), ("block", 0.9)), moderation(("allow", 0.2), ("review", 0.6))
    )
    assert result is not None
    assert result.agreement == 0.5
    assert result.score_delta == pytest.approx(0.2)


def test_rankings_agree_on_same_top1_and_enough_overlap() -> None:
    assert compare_answers(ranking(1, 2, 3, 4), ranking(1, 3, 2, 9)).agreement == 1.0
    assert compare_answers(ranking(1, 2, 3, 4), ranking(2, 1, 3, 4)).agreement == 0.0  # top-1 differs
    assert compare_answers(ranking(1, 2, 3, 4), ranking(1, 7, 8, 9)).agreement == 0.0  # overlap 1/4


def test_visual_search_hit_lists_compare_by_id() -> None:
    hits = lambda *ids: body({"predictions": [[{"id": i, "score": 0.9} for i in ids]]})  # noqa: E731
    assert compare_answers(hits(5, 6), hits(5, 6)).agreement == 1.0


def test_v2_outputs_compare_labels_exactly_and_scores_by_delta() -> None:
    def v2(label: int, score: float) -> bytes:
        return body(
            {
                "outputs": [
                    {"name": "label", "datatype": "INT64", "shape": [1], "data": [label]},
                    {"name": "score", "datatype": "FP32", "shape": [1], "data": [score]},
                ]
            }
        )

    same = compare_answers(v2(3, 0.5), v2(3, 0.75))
    assert same.agreement == 1.0 and same.score_delta == pytest.approx(0.25)
    assert compare_answers(v2(3, 0.5), v2(4, 0.5)).agreement == 0.0


def test_incomparable_answers_are_not_counted() -> None:
    assert compare_answers(b"not json", moderation(("allow", 0.1))) is None
    assert compare_answers(moderation(("allow", 0.1)), body({"error": "boom"})) is None
    assert compare_answers(moderation(("allow", 0.1)), moderation(("allow", 0.1), ("allow", 0.1))) is None
