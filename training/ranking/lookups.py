"""What a ranking version carries for its answers: item titles and genres, each user's seen items,
and each user's rating history (``training.ranking.history`` writes and reads that one).

Training writes them into preprocessing.json (``items``, ``seen``, ``history``) so a deployed
version answers from its own files: the transformer never reads the data catalog. Dependency-free (stdlib +
numpy) because the serving transformer imports it.

``seen`` holds each user's item ids as one space-separated string: preprocessing.json is indented,
and one JSON number per line would make MovieLens-100k's 100k interactions about 1.1 MB instead of
0.4 MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.ranking.features import split_genres

ITEMS, SEEN, HISTORY = "items", "seen", "history"
KEYS = (ITEMS, SEEN, HISTORY)
"""The preprocessing.json keys this module writes and reads."""


def items_table(
    item_ids: Sequence[int] | np.ndarray, titles: Sequence[str], genres: Sequence[str | None]
) -> dict[str, dict[str, str]]:
    """``{"title": {id: title}, "genres": {id: "A|B"}}`` (ids as strings, as JSON keys are)."""
    ids = [str(int(item)) for item in item_ids]
    return {
        "title": dict(zip(ids, (str(t) for t in titles), strict=True)),
        "genres": dict(zip(ids, ("|".join(split_genres(g)) for g in genres), strict=True)),
    }


def seen_table(user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, str]:
    """str(user id) -> the user's distinct item ids, ascending, space-separated."""
    pairs = np.unique(np.stack([np.asarray(user_ids), np.asarray(item_ids)], axis=1).astype(np.int64), axis=0)
    users, starts = np.unique(pairs[:, 0], return_index=True)
    rows = np.split(pairs[:, 1], starts[1:])
    return {
        str(user): " ".join(map(str, row.tolist())) for user, row in zip(users.tolist(), rows, strict=True)
    }


def missing_keys(preprocessing: dict[str, Any]) -> list[str]:
    return [key for key in KEYS if key not in preprocessing]


@dataclass(frozen=True)
class Lookups:
    """The tables as the transformer queries them, by integer id."""

    titles: dict[int, str]
    genres: dict[int, tuple[str, ...]]
    seen: dict[int, frozenset[int]]

    @classmethod
    def from_preprocessing(cls, preprocessing: dict[str, Any]) -> Lookups:
        items, seen = preprocessing[ITEMS], preprocessing[SEEN]
        return cls(
            titles={int(item): title for item, title in items["title"].items()},
            genres={int(item): tuple(split_genres(genres)) for item, genres in items["genres"].items()},
            seen={int(user): frozenset(map(int, ids.split())) for user, ids in seen.items()},
        )
