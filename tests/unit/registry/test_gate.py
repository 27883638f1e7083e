"""The pure registry rules: gate decisions, alias moves and reference parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import NotFoundError, UsageError
from modelyard.registry.policy import (
    ModelRef,
    decide_promotion,
    parse_ref,
    plan_promotion,
    plan_rollback,
    validate_alias,
)

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
non_negative = st.floats(min_value=0, max_value=1e3)


def test_first_candidate_becomes_champion() -> None:
    decision = decide_promotion(0.7, None, higher_is_better=True, tolerance=0.0)
    assert decision.alias == "champion"
    assert decision.champion is None and decision.candidate == 0.7


@pytest.mark.parametrize(
    ("candidate", "champion", "higher_is_better", "alias"),
    [
        (0.91, 0.90, True, "challenger"),  # better accuracy
        (0.89, 0.90, True, None),  # worse accuracy
        (0.20, 0.25, False, "challenger"),  # lower loss is better
        (0.30, 0.25, False, None),  # higher loss is worse
        (0.90, 0.90, True, "challenger"),  # a tie is not worse
        (0.25, 0.25, False, "challenger"),
    ],
)
def test_direction_decides(
    candidate: float, champion: float, higher_is_better: bool, alias: str | None
) -> None:
    assert decide_promotion(candidate, champion, higher_is_better, 0.0).alias == alias


def test_tolerance_admits_a_slightly_worse_candidate_only() -> None:
    assert decide_promotion(0.89, 0.90, True, tolerance=0.02).alias == "challenger"
    assert decide_promotion(0.87, 0.90, True, tolerance=0.02).alias is None
    assert decide_promotion(0.26, 0.25, False, tolerance=0.02).alias == "challenger"
    assert decide_promotion(0.28, 0.25, False, tolerance=0.02).alias is None


def test_rejection_reason_names_the_gap() -> None:
    decision = decide_promotion(0.5, 0.9, True, 0.1)
    assert not decision.accepted
    assert "0.4" in decision.reason and "tolerance 0.1" in decision.reason


def test_nan_candidate_is_rejected_and_nan_champion_is_challenged() -> None:
    assert decide_promotion(math.nan, 0.9, True, 0.0).alias is None
    assert decide_promotion(math.nan, None, True, 0.0).alias is None
    assert decide_promotion(0.1, math.nan, True, 0.0).alias == "challenger"


def test_infinite_values_tie_rather_than_produce_nan() -> None:
    assert decide_promotion(math.inf, math.inf, True, 0.0).alias == "challenger"
    assert decide_promotion(-math.inf, 1.0, True, 0.0).alias is None


@pytest.mark.parametrize("tolerance", [-0.1, math.nan])
def test_bad_tolerance_is_a_usage_error(tolerance: float) -> None:
    with pytest.raises(UsageError):
        decide_promotion(0.5, 0.5, True, tolerance)


@given(candidate=finite, champion=finite, tolerance=non_negative)
def test_direction_is_symmetric(candidate: float, champion: float, tolerance: float) -> None:
    """Lower-is-better on x decides exactly like higher-is-better on -x."""
    lower = decide_promotion(candidate, champion, False, tolerance).alias
    higher = decide_promotion(-candidate, -champion, True, tolerance).alias
    assert lower == higher


@given(champion=finite, gap=non_negative, tolerance=non_negative)
def test_never_worse_than_tolerance_allows(champion: float, gap: float, tolerance: float) -> None:
    decision = decide_promotion(champion - gap, champion, True, tolerance)
    assert (decision.alias == "challenger") == (champion - (champion - gap) <= tolerance)


def test_promotion_moves_challenger_up_and_champion_to_previous() -> None:
    assert plan_promotion({"champion": 1, "challenger": 2}) == {"champion": 2, "previous": 1}
    assert plan_promotion({"champion": 2, "challenger": 3, "previous": 1}) == {"champion": 3, "previous": 2}


def test_promotion_without_champion_keeps_previous() -> None:
    assert plan_promotion({"challenger": 3, "previous": 1}) == {"champion": 3, "previous": 1}


def test_promotion_keeps_foreign_aliases_and_needs_a_challenger() -> None:
    assert plan_promotion({"champion": 1, "challenger": 2, "canary": 2})["canary"] == 2
    with pytest.raises(NotFoundError):
        plan_promotion({"champion": 1})


def test_rollback_restores_previous_and_drops_the_demoted_champion() -> None:
    assert plan_rollback({"champion": 2, "previous": 1}) == {"champion": 1}
    assert plan_rollback({"champion": 2, "previous": 1, "challenger": 3}) == {"champion": 1, "challenger": 3}
    assert plan_rollback({"champion": 2, "previous": 1, "challenger": 2}) == {"champion": 1}
    with pytest.raises(NotFoundError):
        plan_rollback({"champion": 2})


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("ranking", ModelRef("ranking", alias="champion")),
        ("ranking@challenger", ModelRef("ranking", alias="challenger")),
        ("ranking/3", ModelRef("ranking", version=3)),
        ("models:/ranking/3", ModelRef("ranking", version=3)),
        ("team/ranking@previous", ModelRef("team/ranking", alias="previous")),
        ("team/ranking", ModelRef("team/ranking", alias="champion")),
    ],
)
def test_parse_ref(ref: str, expected: ModelRef) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["ranking@prod", "@champion", "", "/3"])
def test_bad_refs_are_usage_errors(ref: str) -> None:
    with pytest.raises(UsageError):
        parse_ref(ref)


def test_only_lifecycle_aliases_are_valid() -> None:
    assert validate_alias("previous") == "previous"
    with pytest.raises(UsageError, match="unknown alias"):
        validate_alias("Champion")
