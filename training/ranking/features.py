"""(user_id, item_id, timestamp) -> integer feature ids: pure functions shared by training and serving.

Dependency-free (stdlib + numpy) because the serving transformer imports it. Every feature lives
in ONE id space: id 0 is padding (a zero embedding), each field owns the range
``[offset, offset + size)`` whose first id means "unknown". Per-user and per-item id rows are
precomputed into the ``FeatureSpec`` (stored as preprocessing.json), so serving needs no tables.
Statistics (activity, popularity, id vocabularies) come from the training split only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from training.ranking.history import (
    FIELD_SIZES as HISTORY_FIELD_SIZES,
)
from training.ranking.history import (
    PAD_ID,
    RATE_EDGES,
    ItemIndex,
    UserHistory,
    bucket,
    history_feature_ids,
)

GENRE_SLOTS = 6
"""Genres per item kept (MovieLens items have at most 6); empty slots are padding."""
AGE_EDGES = (18, 25, 35, 45, 50, 56)
YEAR_EDGES = (1950, 1960, 1970, 1980, 1990, 1994, 1996, 1998)
ACTIVITY_EDGES = (1, 10, 25, 50, 100, 200, 400)
"""Training interactions of a user; bucket 0 = no history (a cold user)."""
POPULARITY_EDGES = (1, 5, 20, 50, 100, 200, 400)
USER_FIELDS = ("user_id", "age", "gender", "occupation", "zip_prefix", "activity")
ITEM_FIELDS = ("item_id", "year", "popularity") + tuple(f"genre_{slot}" for slot in range(GENRE_SLOTS))
CONTEXT_FIELDS = ("hour", "weekday")
SECONDS_PER_HOUR, HOURS_PER_DAY, DAYS_PER_WEEK = 3600, 24, 7
_EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday; weekday 0 = Monday (UTC)."""


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to turn raw ids and a timestamp into model inputs (JSON round-trips)."""

    offsets: dict[str, int]
    """Field -> first id of its range (the field's "unknown" id); genre slots share ``genre``."""
    vocab_size: int
    user_rows: dict[str, list[int]]
    """str(user_id) -> ids for ``USER_FIELDS``."""
    item_rows: dict[str, list[int]]
    """str(item_id) -> ids for ``ITEM_FIELDS``."""
    popular_items: list[int]
    """Item ids by training clicks, most clicked first: the cold-start candidate list."""
    genre_count: int = 0
    item_click_rate: dict[str, int] = field(default_factory=dict)
    """str(item_id) -> local bucket (1..) of the item's smoothed training click rate; absent = 0."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> FeatureSpec:
        return cls(**payload)

    @property
    def unknown_user_row(self) -> list[int]:
        return [self.offsets[field] for field in USER_FIELDS]

    @property
    def unknown_item_row(self) -> list[int]:
        return [self.offsets[field] for field in ITEM_FIELDS[:3]] + [PAD_ID] * GENRE_SLOTS

    @cached_property
    def item_index(self) -> ItemIndex:
        """Per-item arrays for the history features, built once per spec (not part of the JSON)."""
        return ItemIndex.build(self)

    def genre_ids(self, item_id: int) -> list[int]:
        """The item's genre ids (none for an unknown item)."""
        row = self.item_rows.get(str(item_id))
        return [g for g in row[len(ITEM_FIELDS) - GENRE_SLOTS :] if g != PAD_ID] if row else []

    def item_id_feature(self, item_id: int | None) -> int:
        """The item_id field's id of an item (the field's unknown id when untrained or None)."""
        row = self.item_rows.get(str(item_id))
        return row[0] if row else self.offsets["item_id"]


def hour_and_weekday(timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour of day (0-23) and weekday (0 = Monday) of unix timestamps in seconds."""
    hours = np.asarray(timestamps, dtype=np.int64) // SECONDS_PER_HOUR
    return hours % HOURS_PER_DAY, (hours // HOURS_PER_DAY + _EPOCH_WEEKDAY) % DAYS_PER_WEEK


ITEM_RATE_PRIOR = 5.0
"""Pseudo-ratings at the global click rate added to each item's training counts (smoothing)."""


def build_feature_spec(
    users: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    train_user_ids: np.ndarray,
    train_item_ids: np.ndarray,
    train_clicks: np.ndarray,
    popular_items: int = 500,
) -> FeatureSpec:
    """Vocabularies and per-user/per-item id rows from the user and item tables and the TRAIN split.

    ``users``: columns user_id, age, gender, occupation, zip_code; ``items``: item_id,
    release_year (NaN/None/negative = unknown), genres (``|``-joined). Ids absent from training map to
    their field's unknown id, so an untrained embedding never reaches the model.
    """
    seen_users, user_counts = np.unique(train_user_ids, return_counts=True)
    seen_items, item_counts = np.unique(train_item_ids, return_counts=True)
    categories = {
        "user_id": seen_users.tolist(),
        "gender": sorted(set(users["gender"].tolist())),
        "occupation": sorted(set(users["occupation"].tolist())),
        "zip_prefix": sorted({zip_prefix(code) for code in users["zip_code"].tolist()}),
        "item_id": seen_items.tolist(),
        "genre": sorted({g for genres in items["genres"].tolist() for g in split_genres(genres)}),
    }
    sizes = {field: 1 + len(values) for field, values in categories.items()}
    sizes |= {
        "age": 2 + len(AGE_EDGES),
        "activity": 2 + len(ACTIVITY_EDGES),
        "year": 2 + len(YEAR_EDGES),
        "popularity": 2 + len(POPULARITY_EDGES),
        "hour": 1 + HOURS_PER_DAY,
        "weekday": 1 + DAYS_PER_WEEK,
    } | HISTORY_FIELD_SIZES
    offsets, next_id = {}, PAD_ID + 1
    for name in (
        *USER_FIELDS,
        "item_id",
        "year",
        "popularity",
        "genre",
        *CONTEXT_FIELDS,
        *HISTORY_FIELD_SIZES,
    ):
        offsets[name], next_id = next_id, next_id + sizes[name]
    index = {field: {value: i + 1 for i, value in enumerate(values)} for field, values in categories.items()}

    activity = dict(zip(seen_users.tolist(), user_counts.tolist(), strict=True))
    user_rows = {}
    for user_id, age, gender, occupation, code in zip(
        *(users[c].tolist() for c in ("user_id", "age", "gender", "occupation", "zip_code")), strict=True
    ):
        local = (
            index["user_id"].get(user_id, 0),
            1 + int(bucket([age], AGE_EDGES)[0]),
            index["gender"][gender],
            index["occupation"][occupation],
            index["zip_prefix"][zip_prefix(code)],
            1 + int(bucket([activity.get(user_id, 0)], ACTIVITY_EDGES)[0]),
        )
        user_rows[str(user_id)] = [offsets[f] + v for f, v in zip(USER_FIELDS, local, strict=True)]

    popularity = dict(zip(seen_items.tolist(), item_counts.tolist(), strict=True))
    item_rows = {}
    for item_id, year, genres in zip(
        *(items[c].tolist() for c in ("item_id", "release_year", "genres")), strict=True
    ):
        known_year = isinstance(year, int | float) and math.isfinite(year) and year > 0
        local = (
            index["item_id"].get(item_id, 0),
            1 + int(bucket([year], YEAR_EDGES)[0]) if known_year else 0,
            1 + int(bucket([popularity.get(item_id, 0)], POPULARITY_EDGES)[0]),
        )
        genre_ids = [offsets["genre"] + index["genre"][g] for g in split_genres(genres)][:GENRE_SLOTS]
        row = [offsets[f] + v for f, v in zip(ITEM_FIELDS[:3], local, strict=True)]
        item_rows[str(item_id)] = row + genre_ids + [PAD_ID] * (GENRE_SLOTS - len(genre_ids))

    clicked_items, clicks = np.unique(
        np.asarray(train_item_ids)[np.asarray(train_clicks) > 0], return_counts=True
    )
    ranked = clicked_items[np.argsort(-clicks, kind="stable")][:popular_items]
    return FeatureSpec(
        offsets,
        next_id,
        user_rows,
        item_rows,
        [int(i) for i in ranked],
        genre_count=len(categories["genre"]),
        item_click_rate=item_click_rate_buckets(train_item_ids, train_clicks),
    )


def item_click_rate_buckets(item_ids: np.ndarray, clicks: np.ndarray) -> dict[str, int]:
    """str(item) -> 1 + bucket of its training click rate, smoothed towards the global rate."""
    clicks = np.asarray(clicks, dtype=np.float64)
    seen, index, counts = np.unique(np.asarray(item_ids), return_inverse=True, return_counts=True)
    prior = ITEM_RATE_PRIOR * clicks.mean() if len(clicks) else 0.0
    rates = (np.bincount(index, weights=clicks, minlength=len(seen)) + prior) / (counts + ITEM_RATE_PRIOR)
    return {
        str(int(i)): 1 + int(b)
        for i, b in zip(seen.tolist(), bucket(rates, RATE_EDGES).tolist(), strict=True)
    }


def zip_prefix(code: str) -> str:
    """First character of a zip code: a coarse US region (non-US codes keep their letter)."""
    return str(code)[:1].upper() or "?"


def split_genres(genres: str | None) -> list[str]:
    return [g for g in (genres or "").split("|") if g]


def user_feature_ids(spec: FeatureSpec, user_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 [N, len(USER_FIELDS)]; unknown users get every field's unknown id."""
    unknown = spec.unknown_user_row
    return np.array([spec.user_rows.get(str(int(u)), unknown) for u in user_ids], dtype=np.int64).reshape(
        -1, len(USER_FIELDS)
    )


def cold_user_feature_ids(spec: FeatureSpec, user_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The user rows as they look for a user first seen after training: same profile fields,
    unknown id, no-history activity bucket."""
    rows = user_feature_ids(spec, user_ids)
    rows[:, USER_FIELDS.index("user_id")] = spec.offsets["user_id"]
    rows[:, USER_FIELDS.index("activity")] = (
        spec.offsets["activity"] + 1 + int(bucket([0], ACTIVITY_EDGES)[0])
    )
    return rows


def item_feature_ids(spec: FeatureSpec, item_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 [N, len(ITEM_FIELDS)]; unknown items get unknown ids and no genres."""
    unknown = spec.unknown_item_row
    return np.array([spec.item_rows.get(str(int(i)), unknown) for i in item_ids], dtype=np.int64).reshape(
        -1, len(ITEM_FIELDS)
    )


def context_feature_ids(spec: FeatureSpec, timestamps: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 [N, len(CONTEXT_FIELDS)]: hour of day and weekday of the request time (UTC)."""
    hour, weekday = hour_and_weekday(np.asarray(timestamps, dtype=np.int64).reshape(-1))
    return np.stack([spec.offsets["hour"] + 1 + hour, spec.offsets["weekday"] + 1 + weekday], axis=1)


def ctr_feature_ids(
    spec: FeatureSpec,
    user_ids: Sequence[int],
    item_ids: Sequence[int],
    timestamps: Sequence[int],
    histories: Mapping[int, UserHistory],
) -> np.ndarray:
    """int64 [N, F] = user fields, item fields, context fields, history fields (the click model's
    input); ``histories`` holds what each user did, only the part before each timestamp counts."""
    return np.concatenate(
        [
            user_feature_ids(spec, user_ids),
            item_feature_ids(spec, item_ids),
            context_feature_ids(spec, timestamps),
            history_feature_ids(spec, histories, user_ids, item_ids, timestamps),
        ],
        axis=1,
    )
