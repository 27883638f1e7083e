"""The filter DSL: what it accepts, and that every malformed filter is a typed 4xx error."""

from __future__ import annotations

import pytest

from embeddings.errors import FilterError
from embeddings.filters import Match, MatchAny, Range, parse_filter
from modelyard.errors import UsageError


def test_no_filter_is_no_condition() -> None:
    assert parse_filter(None) == ()
    assert parse_filter({}) == ()


def test_scalar_list_and_range_map_to_their_conditions() -> None:
    conditions = parse_filter(
        {"label": 3, "split": "test", "on": True, "genres": ["Drama", "War"], "ids": [1, 2]}
    )
    assert conditions == (
        Match("label", 3),
        Match("split", "test"),
        Match("on", True),
        MatchAny("genres", ("Drama", "War")),
        MatchAny("ids", (1, 2)),
    )
    assert parse_filter({"year": {"gte": 1990, "lt": 2000}}) == (Range("year", gte=1990.0, lt=2000.0),)


@pytest.mark.parametrize(
    "bad",
    [
        [("label", 3)],
        {"": 1},
        {"score": 0.5},
        {"label": None},
        {"label": []},
        {"label": [1, "a"]},
        {"label": [True, 2]},
        {"year": {}},
        {"year": {"from": 1990}},
        {"year": {"gte": "1990"}},
        {"year": {"gte": True}},
        {"year": {"gte": float("nan")}},
        {"year": {"gte": 1, "gt": 2}},
        {"year": {"gte": 2000, "lt": 1990}},
    ],
)
def test_malformed_filters_raise_a_usage_error_with_a_hint(bad: object) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(bad)  # type: ignore[arg-type]
    assert isinstance(caught.value, UsageError)
    assert caught.value.hint
