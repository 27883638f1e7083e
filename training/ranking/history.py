"""User-history features of the click model: what the user did BEFORE the moment being scored.

Dependency-free (stdlib + numpy) because the serving transformer imports it. Training and serving
call the same ``history_feature_ids``: training with each example's own timestamp over the full
interaction log, serving with the request's timestamp over the version's ``history`` table, so an
example never sees its own rating or anything later (interactions at the same second excluded).

Fields (each in its own id range of the shared id space, local id 0 = no history / unknown):

* ``history_count``, ``history_mean_rating``, ``history_click_rate``: the user's past, bucketed;
* ``recency``: seconds since the user's last interaction, bucketed;
* ``genre_affinity`` (a cross of user x item): the user's smoothed click rate on items sharing a
  genre with the candidate;
* ``rate_cross`` (a cross of user x item): the user's click-rate bucket x the item's training
  click-rate bucket, one id per pair;
* pooled slots: the user's most clicked genres, last clicked items, last skipped (rated < 4) items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

CLICK_RATING = 4
"""A rating at or above this is a click."""
PAD_ID = 0
COUNT_EDGES = (1, 10, 25, 50, 100, 200, 400)
MEAN_RATING_EDGES = (2.5, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5)
RATE_EDGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RECENCY_EDGES = (60, 600, 3600, 86_400, 7 * 86_400, 30 * 86_400, 180 * 86_400)
AFFINITY_PRIOR = 3.0
"""Pseudo-ratings at the user's overall click rate added to each genre's counts (smoothing)."""
TOP_GENRES, RECENT_SLOTS = 3, 10
SCALAR_FIELDS = (
    "history_count",
    "history_mean_rating",
    "history_click_rate",
    "recency",
    "genre_affinity",
    "rate_cross",
)
HISTORY_GROUPS = ((len(SCALAR_FIELDS), False), (TOP_GENRES, True), (RECENT_SLOTS, True), (RECENT_SLOTS, True))
"""(width, pooled) of each block of ``history_feature_ids``: scalars, top genres, clicked, skipped."""
HISTORY_WIDTH = sum(width for width, _ in HISTORY_GROUPS)
ITEM_RATE_SIZE = 2 + len(RATE_EDGES)
"""Local ids of an item's training click-rate bucket: 0 unknown, 1.. buckets."""
FIELD_SIZES = {
    "history_count": 2 + len(COUNT_EDGES),
    "history_mean_rating": 2 + len(MEAN_RATING_EDGES),
    "history_click_rate": 2 + len(RATE_EDGES),
    "recency": 2 + len(RECENCY_EDGES),
    "genre_affinity": 2 + len(RATE_EDGES),
    "rate_cross": 1 + (1 + len(RATE_EDGES)) * ITEM_RATE_SIZE,
}


class ItemCatalogue(Protocol):
    """What the history features read of a ``FeatureSpec``: features.py builds on this module, so
    the spec is named here by its shape rather than imported."""

    offsets: dict[str, int]
    item_rows: dict[str, list[int]]
    genre_count: int
    item_click_rate: dict[str, int]

    @property
    def item_index(self) -> ItemIndex: ...

    def genre_ids(self, item_id: int) -> list[int]: ...

    def item_id_feature(self, item_id: int | None) -> int: ...


def bucket(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bucket index 0..len(edges): how many edges are <= the value."""
    return np.searchsorted(np.asarray(edges), np.asarray(values), side="right")


@dataclass(frozen=True)
class ItemIndex:
    """Per-item arrays of a FeatureSpec for vectorised lookups (row ``len(ids)`` = an unknown item)."""

    ids: np.ndarray
    """Sorted item ids."""
    genres: np.ndarray
    """[items + 1, genres] 0/1."""
    item_id_feature: np.ndarray
    """The item_id field's id of each item."""
    click_rate: np.ndarray
    """Local bucket of the item's training click rate (0 = unknown)."""

    @classmethod
    def build(cls, spec: ItemCatalogue) -> ItemIndex:
        ids = np.array(sorted(int(item) for item in spec.item_rows), dtype=np.int64)
        genres = np.zeros((len(ids) + 1, spec.genre_count), dtype=np.int32)
        first = spec.offsets["genre"] + 1
        for row, item in enumerate(ids.tolist()):
            genres[row, [g - first for g in spec.genre_ids(item)]] = 1
        return cls(
            ids=ids,
            genres=genres,
            item_id_feature=np.array(
                [spec.item_id_feature(i) for i in [*ids.tolist(), None]], dtype=np.int64
            ),
            click_rate=np.array(
                [spec.item_click_rate.get(str(i), 0) for i in [*ids.tolist(), None]], dtype=np.int64
            ),
        )

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each item id (``len(ids)`` for ids the spec does not know)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        position = np.minimum(np.searchsorted(self.ids, item_ids), len(self.ids) - 1)
        return (
            np.where(self.ids[position] == item_ids, position, len(self.ids)) if len(self.ids) else position
        )


@dataclass(frozen=True)
class UserHistory:
    """One user's interactions in time order, with prefix sums so any cut-off is O(1) to read."""

    timestamps: np.ndarray
    item_features: np.ndarray
    """The item_id field's id of each interaction's item."""
    cumulative_rating: np.ndarray
    """[n + 1]: sum of the first k ratings at index k."""
    cumulative_clicks: np.ndarray
    genre_counts: np.ndarray
    """[n + 1, genres]: ratings per genre among the first k interactions."""
    genre_clicks: np.ndarray
    click_positions: np.ndarray
    skip_positions: np.ndarray

    @classmethod
    def build(
        cls, index: ItemIndex, items: np.ndarray, ratings: np.ndarray, timestamps: np.ndarray
    ) -> UserHistory:
        order = np.argsort(timestamps, kind="stable")
        rows, ratings, timestamps = index.rows(items[order]), ratings[order], timestamps[order]
        clicks = ratings >= CLICK_RATING
        genres = index.genres[rows]

        def prefix(values: np.ndarray) -> np.ndarray:
            return np.concatenate([np.zeros((1, *values.shape[1:]), values.dtype), np.cumsum(values, axis=0)])

        return cls(
            timestamps=timestamps.astype(np.int64),
            item_features=index.item_id_feature[rows],
            cumulative_rating=prefix(ratings.astype(np.float64)),
            cumulative_clicks=prefix(clicks.astype(np.int64)),
            genre_counts=prefix(genres),
            genre_clicks=prefix(genres * clicks[:, None]),
            click_positions=np.flatnonzero(clicks),
            skip_positions=np.flatnonzero(~clicks),
        )


def history_table(
    user_ids: np.ndarray, item_ids: np.ndarray, ratings: np.ndarray, timestamps: np.ndarray
) -> dict[str, str]:
    """str(user id) -> ``"item:rating:timestamp ..."`` in time order (the version's history table)."""
    order = np.lexsort((np.asarray(item_ids), np.asarray(timestamps), np.asarray(user_ids)))
    table: dict[str, list[str]] = {}
    for user, item, rating, stamp in zip(
        *(np.asarray(column)[order].tolist() for column in (user_ids, item_ids, ratings, timestamps)),
        strict=True,
    ):
        table.setdefault(str(int(user)), []).append(f"{int(item)}:{int(rating)}:{int(stamp)}")
    return {user: " ".join(tokens) for user, tokens in table.items()}


def parse_history_table(spec: ItemCatalogue, table: Mapping[str, str]) -> dict[int, UserHistory]:
    """The table ``history_table`` writes -> per-user histories (items' genres from ``spec``)."""
    histories = {}
    for user, tokens in table.items():
        rows = np.array([token.split(":") for token in tokens.split()], dtype=np.int64).reshape(-1, 3)
        histories[int(user)] = UserHistory.build(spec.item_index, rows[:, 0], rows[:, 1], rows[:, 2])
    return histories


def histories_from_log(
    spec: ItemCatalogue,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray,
) -> dict[int, UserHistory]:
    """Per-user histories straight from interaction columns (training's path)."""
    order = np.argsort(user_ids, kind="stable")
    users, starts = np.unique(np.asarray(user_ids)[order], return_index=True)
    return {
        int(user): UserHistory.build(
            spec.item_index, *(np.asarray(column)[rows] for column in (item_ids, ratings, timestamps))
        )
        for user, rows in zip(users.tolist(), np.split(order, starts[1:]), strict=True)
    }


def history_feature_ids(
    spec: ItemCatalogue,
    histories: Mapping[int, UserHistory],
    user_ids: Sequence[int] | np.ndarray,
    item_ids: Sequence[int] | np.ndarray,
    timestamps: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """int64 [N, HISTORY_WIDTH]: history features of (user, item) at each timestamp, from the
    user's interactions strictly before it (users without a history get the no-history row)."""
    user_ids, item_ids = np.asarray(user_ids, dtype=np.int64), np.asarray(item_ids, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.int64)
    out = np.zeros((len(user_ids), HISTORY_WIDTH), dtype=np.int64)
    if not len(user_ids):
        return out  # np.split of no rows is one empty group, with no user to own it
    index = spec.item_index
    item_rows = index.rows(item_ids)
    genres, item_rate = index.genres[item_rows], index.click_rate[item_rows]
    empty = UserHistory.build(index, *(np.zeros(0, np.int64) for _ in range(3)))
    order = np.argsort(user_ids, kind="stable")
    users, starts = np.unique(user_ids[order], return_index=True)
    for user, rows in zip(users.tolist(), np.split(order, starts[1:]), strict=True):
        history = histories.get(user, empty)
        out[rows] = _user_rows(spec, history, genres[rows], item_rate[rows], timestamps[rows])
    return out


def _user_rows(
    spec: ItemCatalogue,
    history: UserHistory,
    genres: np.ndarray,
    item_rate: np.ndarray,
    timestamps: np.ndarray,
) -> np.ndarray:
    offsets = spec.offsets
    cut = np.searchsorted(history.timestamps, timestamps, side="left")
    seen = cut > 0
    count = np.maximum(cut, 1)
    click_rate = history.cumulative_clicks[cut] / count
    mean_rating = history.cumulative_rating[cut] / count
    last = history.timestamps[np.maximum(cut - 1, 0)] if len(history.timestamps) else np.zeros_like(cut)
    rate_bucket = bucket(click_rate, RATE_EDGES)
    affinity = _genre_affinity(history, cut, genres, click_rate)
    has_genre = genres.sum(axis=1) > 0
    scalars = np.stack(
        [
            offsets["history_count"] + 1 + bucket(cut, COUNT_EDGES),
            offsets["history_mean_rating"] + np.where(seen, 1 + bucket(mean_rating, MEAN_RATING_EDGES), 0),
            offsets["history_click_rate"] + np.where(seen, 1 + rate_bucket, 0),
            offsets["recency"]
            + np.where(seen, 1 + bucket(np.maximum(timestamps - last, 0), RECENCY_EDGES), 0),
            offsets["genre_affinity"] + np.where(seen & has_genre, 1 + bucket(affinity, RATE_EDGES), 0),
            offsets["rate_cross"] + np.where(seen, 1 + rate_bucket * ITEM_RATE_SIZE + item_rate, 0),
        ],
        axis=1,
    )
    return np.concatenate(
        [
            scalars,
            _top_genres(spec, history.genre_clicks[cut]),
            _recent_items(history, history.click_positions, cut),
            _recent_items(history, history.skip_positions, cut),
        ],
        axis=1,
    )


def _genre_affinity(
    history: UserHistory, cut: np.ndarray, genres: np.ndarray, click_rate: np.ndarray
) -> np.ndarray:
    """Mean over the candidate's genres of the user's smoothed click rate on that genre."""
    clicks = history.genre_clicks[cut] + AFFINITY_PRIOR * click_rate[:, None]
    counts = history.genre_counts[cut] + AFFINITY_PRIOR
    per_genre = clicks / counts
    return (per_genre * genres).sum(axis=1) / np.maximum(genres.sum(axis=1), 1)


def _top_genres(spec: ItemCatalogue, genre_clicks: np.ndarray) -> np.ndarray:
    """Ids of the (up to) TOP_GENRES most clicked genres, padding where fewer were clicked."""
    top = np.argsort(-genre_clicks, axis=1, kind="stable")[:, :TOP_GENRES]
    clicked = np.take_along_axis(genre_clicks, top, axis=1) > 0
    return np.where(clicked, spec.offsets["genre"] + 1 + top, PAD_ID)


def _recent_items(history: UserHistory, positions: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """item_id ids of the last RECENT_SLOTS interactions among ``positions`` before each cut."""
    if len(positions) == 0:
        return np.zeros((len(cut), RECENT_SLOTS), dtype=np.int64)
    end = np.searchsorted(positions, cut, side="left")
    index = end[:, None] - np.arange(1, RECENT_SLOTS + 1)[None, :]
    ids = history.item_features[positions[np.maximum(index, 0)]]
    return np.where(index >= 0, ids, PAD_ID)
