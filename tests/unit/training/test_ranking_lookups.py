"""The item and history tables a ranking version carries in preprocessing.json (no catalog, no servers)."""

from __future__ import annotations

import json

import numpy as np

from training.ranking.lookups import (
    HISTORY,
    ITEMS,
    KEYS,
    SEEN,
    Lookups,
    items_table,
    missing_keys,
    seen_table,
)


def test_items_table_keeps_titles_and_cleans_genres() -> None:
    table = items_table(np.array([1, 2]), ["Toy Story", "GoldenEye"], ["Animation||Comedy", None])
    assert table == {
        "title": {"1": "Toy Story", "2": "GoldenEye"},
        "genres": {"1": "Animation|Comedy", "2": ""},
    }


def test_seen_table_is_each_users_distinct_items_in_order() -> None:
    users = np.array([7, 3, 7, 7, 3])
    items = np.array([50, 9, 2, 50, 1])  # user 7 rated item 50 twice
    assert seen_table(users, items) == {"3": "1 9", "7": "2 50"}


def test_lookups_read_back_what_training_wrote_through_json() -> None:
    written = {
        ITEMS: items_table([1, 2], ["Toy Story", "GoldenEye"], ["Animation|Comedy", "Action"]),
        SEEN: seen_table(np.array([5, 5]), np.array([2, 1])),
    }
    lookups = Lookups.from_preprocessing(json.loads(json.dumps(written)))
    assert lookups.titles == {1: "Toy Story", 2: "GoldenEye"}
    assert lookups.genres == {1: ("Animation", "Comedy"), 2: ("Action",)}
    assert lookups.seen == {5: frozenset({1, 2})}


def test_missing_keys_name_what_an_older_version_lacks() -> None:
    assert missing_keys({"feature_spec": {}}) == list(KEYS)
    assert missing_keys({ITEMS: {}, SEEN: {}}) == [HISTORY]  # trained before history features
    assert missing_keys({ITEMS: {}, SEEN: {}, HISTORY: {}}) == []
