"""Feature ids for the ranking click model, on a hand-made catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from training.ranking.features import (
    ACTIVITY_EDGES,
    CONTEXT_FIELDS,
    GENRE_SLOTS,
    ITEM_FIELDS,
    PAD_ID,
    USER_FIELDS,
    FeatureSpec,
    bucket,
    build_feature_spec,
    cold_user_feature_ids,
    context_feature_ids,
    ctr_feature_ids,
    hour_and_weekday,
    item_feature_ids,
    user_feature_ids,
)
from training.ranking.history import (
    COUNT_EDGES,
    HISTORY_WIDTH,
    MEAN_RATING_EDGES,
    RECENCY_EDGES,
    RECENT_SLOTS,
    SCALAR_FIELDS,
    TOP_GENRES,
    histories_from_log,
    history_feature_ids,
    history_table,
    parse_history_table,
)

USERS = {
    "user_id": np.array([1, 2, 3]),
    "age": np.array([24, 53, 17]),
    "gender": np.array(["M", "F", "F"], dtype=object),
    "occupation": np.array(["technician", "other", "writer"], dtype=object),
    "zip_code": np.array(["85711", "94043", "V3N4P"], dtype=object),
}
ITEMS = {
    "item_id": np.array([10, 20, 30]),
    "release_year": np.array([1995.0, np.nan, 1960.0]),
    "genres": np.array(["Action|Comedy", "Drama", ""], dtype=object),
}
# User 3 and item 30 never appear in training.
TRAIN_USERS = np.array([1, 2, 2, 1])
TRAIN_ITEMS = np.array([10, 10, 20, 20])
TRAIN_CLICKS = np.array([1, 1, 0, 1])


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return build_feature_spec(USERS, ITEMS, TRAIN_USERS, TRAIN_ITEMS, TRAIN_CLICKS)


def field(spec: FeatureSpec, row: list[int] | np.ndarray, fields: tuple[str, ...], name: str) -> int:
    """The local value (0 = unknown) of one field in an id row."""
    return int(row[fields.index(name)]) - spec.offsets[name]


def test_hour_and_weekday_match_the_standard_library() -> None:
    stamps = np.array([0, 881250949, 893286638])
    hours, weekdays = hour_and_weekday(stamps)
    expected = [datetime.fromtimestamp(int(t), UTC) for t in stamps]
    assert hours.tolist() == [d.hour for d in expected]
    assert weekdays.tolist() == [d.weekday() for d in expected]


def test_bucket_counts_edges_at_or_below() -> None:
    assert bucket(np.array([0, 1, 9, 10, 500]), ACTIVITY_EDGES).tolist() == [0, 1, 1, 2, len(ACTIVITY_EDGES)]


def test_field_ranges_are_disjoint_and_inside_the_vocabulary(spec: FeatureSpec) -> None:
    ids = ctr_feature_ids(spec, [1, 2, 3, 99], [10, 20, 30, 99], [0, 3600, 7200, 86400], {})
    assert ids.shape == (4, len(USER_FIELDS) + len(ITEM_FIELDS) + len(CONTEXT_FIELDS) + HISTORY_WIDTH)
    assert ids.dtype == np.int64 and ids.min() >= PAD_ID and ids.max() < spec.vocab_size
    starts = sorted(spec.offsets.values())
    assert starts[0] == PAD_ID + 1 and len(set(starts)) == len(starts)


def test_users_seen_in_training_get_ids_and_activity(spec: FeatureSpec) -> None:
    rows = user_feature_ids(spec, [1, 3])
    assert field(spec, rows[0], USER_FIELDS, "user_id") > 0
    assert field(spec, rows[1], USER_FIELDS, "user_id") == 0  # never trained on
    assert field(spec, rows[0], USER_FIELDS, "activity") == 1 + int(bucket([2], ACTIVITY_EDGES)[0])
    assert field(spec, rows[1], USER_FIELDS, "activity") == 1  # no history bucket
    assert field(spec, rows[1], USER_FIELDS, "age") == 1  # under 18
    assert field(spec, rows[1], USER_FIELDS, "zip_prefix") > 0


def test_unknown_user_and_item_get_unknown_ids(spec: FeatureSpec) -> None:
    assert user_feature_ids(spec, [12345])[0].tolist() == [spec.offsets[f] for f in USER_FIELDS]
    unknown_item = item_feature_ids(spec, [12345])[0].tolist()
    assert unknown_item[:3] == [spec.offsets[f] for f in ITEM_FIELDS[:3]]
    assert unknown_item[3:] == [PAD_ID] * GENRE_SLOTS
    assert user_feature_ids(spec, []).shape == (0, len(USER_FIELDS))


def test_items_carry_year_popularity_and_padded_genres(spec: FeatureSpec) -> None:
    action_comedy, drama, untrained = item_feature_ids(spec, [10, 20, 30])
    assert field(spec, drama, ITEM_FIELDS, "year") == 0  # missing year
    assert field(spec, untrained, ITEM_FIELDS, "item_id") == 0
    assert field(spec, untrained, ITEM_FIELDS, "year") > 0
    genres = action_comedy[3:]
    assert (genres != PAD_ID).sum() == 2 and np.all(genres[2:] == PAD_ID)
    assert np.all(untrained[3:] == PAD_ID)
    assert field(spec, action_comedy, ITEM_FIELDS, "popularity") > field(
        spec, untrained, ITEM_FIELDS, "popularity"
    )


def test_cold_view_keeps_the_profile_and_drops_identity(spec: FeatureSpec) -> None:
    warm, cold = user_feature_ids(spec, [1])[0], cold_user_feature_ids(spec, [1])[0]
    assert field(spec, cold, USER_FIELDS, "user_id") == 0
    assert (
        cold[USER_FIELDS.index("activity")] == user_feature_ids(spec, [3])[0][USER_FIELDS.index("activity")]
    )
    for name in ("age", "gender", "occupation", "zip_prefix"):
        assert cold[USER_FIELDS.index(name)] == warm[USER_FIELDS.index(name)]


def test_context_ids_follow_the_clock(spec: FeatureSpec) -> None:
    ids = context_feature_ids(spec, [0, 3600 * 25])
    assert ids[:, 0].tolist() == [spec.offsets["hour"] + 1, spec.offsets["hour"] + 2]
    assert ids[:, 1].tolist() == [spec.offsets["weekday"] + 1 + 3, spec.offsets["weekday"] + 1 + 4]


def test_popular_items_rank_by_training_clicks(spec: FeatureSpec) -> None:
    assert spec.popular_items == [10, 20]


def test_spec_survives_json_and_gives_the_same_ids(spec: FeatureSpec) -> None:
    restored = FeatureSpec.from_json(json.loads(json.dumps(spec.to_json())))
    arguments = ([1, 3, 7], [10, 30, 7], [881250949, 0, 1], {})
    assert np.array_equal(ctr_feature_ids(restored, *arguments), ctr_feature_ids(spec, *arguments))


# User 1 rated item 10 (Action|Comedy) 5 at t=100, item 20 (Drama) 2 at t=200, item 10 again 4 at t=300.
LOG = {
    "user_id": np.array([1, 1, 1, 2]),
    "item_id": np.array([10, 20, 10, 20]),
    "rating": np.array([5, 2, 4, 3]),
    "timestamp": np.array([100, 200, 300, 150]),
}


def history_field(spec: FeatureSpec, row: np.ndarray, name: str) -> int:
    return int(row[SCALAR_FIELDS.index(name)]) - spec.offsets[name]


def histories(spec: FeatureSpec, keep: np.ndarray | slice = slice(None)) -> dict:
    return histories_from_log(spec, *(LOG[c][keep] for c in ("user_id", "item_id", "rating", "timestamp")))


def test_history_features_see_only_what_came_before_the_timestamp(spec: FeatureSpec) -> None:
    before_any, after_first, same_second = history_feature_ids(
        spec, histories(spec), [1, 1, 1], [20, 20, 20], [50, 150, 200]
    )
    assert history_field(spec, before_any, "history_count") == 1  # the no-history bucket
    assert all(history_field(spec, before_any, name) == 0 for name in SCALAR_FIELDS[1:])
    assert np.all(before_any[len(SCALAR_FIELDS) :] == PAD_ID)
    assert history_field(spec, after_first, "history_count") == 1 + int(bucket([1], COUNT_EDGES)[0])
    assert history_field(spec, after_first, "history_mean_rating") == 1 + int(
        bucket([5.0], MEAN_RATING_EDGES)[0]
    )
    assert history_field(spec, after_first, "recency") == 1 + int(bucket([50], RECENCY_EDGES)[0])
    # The rating given at t=200 is not part of the features scored at t=200.
    assert history_field(spec, same_second, "history_mean_rating") == history_field(
        spec, after_first, "history_mean_rating"
    )


def test_history_features_do_not_change_when_the_future_is_removed(spec: FeatureSpec) -> None:
    at = [250, 250, 250]
    full = history_feature_ids(spec, histories(spec), [1, 1, 2], [10, 20, 10], at)
    past_only = history_feature_ids(
        spec, histories(spec, LOG["timestamp"] < 250), [1, 1, 2], [10, 20, 10], at
    )
    assert np.array_equal(full, past_only)


def test_recent_items_and_genre_affinity_follow_clicks_and_skips(spec: FeatureSpec) -> None:
    scalars = len(SCALAR_FIELDS)
    liked_genres, disliked_genres = history_feature_ids(spec, histories(spec), [1, 1], [10, 20], [250, 250])
    clicked = liked_genres[scalars + TOP_GENRES : scalars + TOP_GENRES + RECENT_SLOTS]
    skipped = liked_genres[scalars + TOP_GENRES + RECENT_SLOTS :]
    item_10, item_20 = item_feature_ids(spec, [10, 20])[:, 0]
    assert clicked[clicked != PAD_ID].tolist() == [item_10]
    assert skipped[skipped != PAD_ID].tolist() == [item_20]
    assert history_field(spec, liked_genres, "genre_affinity") > history_field(
        spec, disliked_genres, "genre_affinity"
    )


def test_serving_history_table_gives_the_training_features(spec: FeatureSpec) -> None:
    table = json.loads(
        json.dumps(history_table(*(LOG[c] for c in ("user_id", "item_id", "rating", "timestamp"))))
    )
    served = parse_history_table(spec, table)
    arguments = ([1, 2, 3, 1], [10, 20, 10, 30], [150, 400, 400, 1_000])
    assert np.array_equal(
        ctr_feature_ids(spec, *arguments, served), ctr_feature_ids(spec, *arguments, histories(spec))
    )
