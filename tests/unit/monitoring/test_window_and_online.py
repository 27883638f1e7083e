"""Window bounds as people write them, and the ranking side of the online metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from modelyard.errors import UsageError
from modelyard.payloads import FEEDBACK_SCHEMA, PAYLOAD_SCHEMA
from monitoring.online import auc, ranking_metrics
from monitoring.window import parse_moment

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - timedelta(minutes=15)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("2026-12-03T09:00:00Z", datetime(2026, 12, 3, 9, tzinfo=UTC)),
        ("2026-12-03T09:00:00", datetime(2026, 12, 3, 9, tzinfo=UTC)),
        ("2026-12-03T10:00:00+01:00", datetime(2026, 12, 3, 9, tzinfo=UTC)),
    ],
)
def test_times_are_iso_or_durations_back_from_now(text: str, expected: datetime) -> None:
    assert parse_moment(text, NOW) == expected


@pytest.mark.parametrize("text", ["tomorrow", "15 minutes", "-5m", ""])
def test_a_bad_time_is_a_usage_error_with_the_forms_it_takes(text: str) -> None:
    with pytest.raises(UsageError, match="bad time") as raised:
        parse_moment(text, NOW)
    assert "15m" in raised.value.hint


def test_auc_by_rank_sum_with_ties_and_without_both_classes() -> None:
    assert auc(np.array([True, False, True, False]), np.array([0.9, 0.1, 0.8, 0.2])) == 1.0
    assert auc(np.array([True, False]), np.array([0.5, 0.5])) == 0.5
    assert auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_ranking_clicks_join_the_served_item_and_its_score() -> None:
    payloads = pa.Table.from_pylist(
        [
            {"request_id": "a", "user": 1, "items": [10, 11, 12], "scores": [0.9, 0.5, 0.1]},
            {"request_id": "b", "user": 2, "items": [10, 13], "scores": [0.4, 0.3]},
        ],
        schema=PAYLOAD_SCHEMA,
    )
    feedback = pa.Table.from_pylist(
        [
            {"request_id": "a", "user": 1, "item": 10, "clicked": True},
            {"request_id": "a", "user": 1, "item": 12, "clicked": False},
            {"request_id": "b", "user": 2, "item": 13, "clicked": False},
            {"request_id": "b", "user": 2, "item": 99, "clicked": True},  # never served: not joined
            {"request_id": "z", "user": 3, "item": 10, "clicked": True},  # unknown request
        ],
        schema=FEEDBACK_SCHEMA,
    )
    metrics = ranking_metrics(payloads, feedback)
    assert metrics == {"feedback": 5, "joined": 3, "ctr": pytest.approx(1 / 3), "auc": 1.0}
