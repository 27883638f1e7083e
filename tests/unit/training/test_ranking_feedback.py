"""Ranking learning from clicks: clicked and skipped items join the interactions the features are
built from, the older half as training rows, the newer half as the recent window with the
serving version's scores; users and items the data set lacks are skipped and counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import DataError
from training.feedback import labelled_table, read_labelled, recent_window_metrics, write_labelled
from training.ranking.features import FeatureSpec
from training.ranking.history import CLICK_RATING, RECENT_SLOTS, SCALAR_FIELDS, TOP_GENRES
from training.ranking.task import FEEDBACK_RATINGS, RankingTask, interaction_log, time_ordered_split

DIGEST = "sha256:tiny-movielens"
USERS = pd.DataFrame(
    {
        "user_id": [1, 2, 3],
        "age": [24, 53, 17],
        "gender": ["M", "F", "F"],
        "occupation": ["technician", "other", "writer"],
        "zip_code": ["85711", "94043", "V3N4P"],
    }
)
ITEMS = pd.DataFrame(
    {
        "item_id": [10, 20, 30, 40, 50],
        "title": ["A", "B", "C", "D", "E"],
        "release_year": [1995, 1990, 1960, 1977, 1994],
        "genres": ["Action|Comedy", "Drama", "Drama", "Sci-Fi", "Comedy"],
    }
)
CLICKED_SLOTS = slice(len(SCALAR_FIELDS) + TOP_GENRES, len(SCALAR_FIELDS) + TOP_GENRES + RECENT_SLOTS)


def ratings() -> pd.DataFrame:
    """Ten ratings per user, an hour apart, of items 10 and 20 only (30, 40, 50 are unrated)."""
    rows = [
        (user, 10 * (1 + (k % 2)), 5 if (user + k) % 2 else 2, 1_000_000 + 3600 * k)
        for user in (1, 2)
        for k in range(10)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def tiny_task() -> tuple[RankingTask, object]:
    task = RankingTask()
    task._tables[DIGEST] = (USERS, ITEMS)  # what prepare keeps of the data set it loaded
    return task, task.task_data(DIGEST, time_ordered_split(ratings()))


def feedback_file(tmp_path: Path, rows: list[tuple[int, int, int, int, str, float]]) -> Path:
    """(user, item, timestamp, clicked, part, served score) rows."""
    user, item, stamp, clicked, part, score = (list(column) for column in zip(*rows, strict=True))
    table = labelled_table(
        {
            "request_id": [f"r{i}" for i in range(len(rows))],
            "user": user,
            "item": item,
            "timestamp": stamp,
            "label": clicked,
            "part": part,
            "served_version": ["1"] * len(rows),
            "served_score": score,
        }
    )
    return write_labelled(tmp_path / "clicks.parquet", table)


MOMENT = 1_000_000 + 3600 * 8 + 60
"""Just after user 1's 9th rating: before the last one (their test rating)."""


def test_clicks_and_skips_join_training_and_the_histories_later_examples_see(tmp_path: Path) -> None:
    task, data = tiny_task()
    path = feedback_file(
        tmp_path,
        [
            (1, 30, MOMENT, 1, "train", 0.4),
            (1, 40, MOMENT, 0, "train", 0.3),
            (2, 50, MOMENT, 1, "recent", 0.8),
            (2, 40, MOMENT, 0, "recent", 0.6),
        ],
    )
    fed = task.with_feedback(data, read_labelled(path))
    assert len(fed.train["label"]) == len(data.train["label"]) + 2
    added = fed.train["timestamp"] == MOMENT
    assert fed.train["item_id"][added].tolist() == [30, 40] and fed.train["label"][added].tolist() == [1, 0]
    assert fed.train["rating"][added].tolist() == list(FEEDBACK_RATINGS)
    assert fed.meta["feedback"] | {"digest": None} == {
        "digest": None,
        "train_rows": 2,
        "recent_rows": 2,
        "skipped_unknown": 0,
        "train_positive_rate": 0.5,
    }
    # the recent window: featurised, never trained on, with the serving version's scores
    assert fed.recent is not None and fed.recent["item_id"].tolist() == [50, 40]
    assert fed.recent["label"].tolist() == [1, 0] and fed.recent["served_scores"].tolist() == [0.8, 0.6]
    assert not ((fed.train["user_id"] == 2) & (fed.train["timestamp"] == MOMENT)).any()
    # user 1's test example comes after the click: its history now holds item 30 as a click
    spec = FeatureSpec.from_json(fed.meta["feature_spec"])
    test_row = np.flatnonzero(fed.test["user_id"] == 1)[0]
    assert spec.item_id_feature(30) in fed.test["history"][test_row, CLICKED_SLOTS]
    before, after = ((d.test["history"][test_row, CLICKED_SLOTS] > 0).sum() for d in (data, fed))
    assert after == before + 1
    # ...and so does the history the version exports for serving; the recent clicks do not
    assert f"30:{CLICK_RATING}:{MOMENT}" in interaction_log(fed)["1"]
    assert str(MOMENT) not in interaction_log(fed)["2"]
    # item 30 was never rated in the data: the click makes it a known item of the new spec
    assert "30" in spec.item_rows and spec.item_rows["30"][0] != spec.offsets["item_id"]
    assert fed.test["label"].tolist() == data.test["label"].tolist()  # the same held-out rows


def test_users_and_items_the_data_set_lacks_are_skipped_and_counted(tmp_path: Path) -> None:
    task, data = tiny_task()
    path = feedback_file(
        tmp_path,
        [
            (1, 30, MOMENT, 1, "train", 0.4),
            (99, 30, MOMENT, 1, "train", 0.4),  # not a MovieLens user
            (2, 999, MOMENT, 0, "recent", 0.2),  # not a catalogue item
        ],
    )
    fed = task.with_feedback(data, read_labelled(path))
    assert fed.meta["feedback"]["skipped_unknown"] == 2 and fed.meta["feedback"]["train_rows"] == 1
    assert 99 not in fed.train["user_id"] and fed.recent is not None and len(fed.recent["label"]) == 0


def test_feedback_with_nothing_known_is_a_clear_error(tmp_path: Path) -> None:
    task, data = tiny_task()
    path = feedback_file(tmp_path, [(99, 999, MOMENT, 1, "train", 0.4)])
    with pytest.raises(DataError, match="none of the 1 feedback rows"):
        task.with_feedback(data, read_labelled(path))


def test_recent_window_compares_on_rows_the_serving_version_scored() -> None:
    def auc(labels: np.ndarray, scores: np.ndarray) -> float:
        positives, negatives = scores[labels > 0.5], scores[labels < 0.5]
        return float((positives[:, None] > negatives[None, :]).mean())

    labels = np.array([1.0, 0.0, 1.0, 0.0])
    served = np.array([0.9, 0.2, np.nan, 0.95])
    metrics = recent_window_metrics("auc", auc, labels, lambda: np.array([0.9, 0.2, 0.3, 0.05]), served)
    assert metrics == {"recent_rows": 3.0, "recent_auc": 1.0, "recent_champion_auc": 0.5}
    one_class = recent_window_metrics("auc", auc, labels[:1], lambda: pytest.fail("not asked"), served[:1])
    assert one_class == {"recent_rows": 1.0}


def test_the_feedback_file_keeps_ids_and_times(tmp_path: Path) -> None:
    rows = read_labelled(feedback_file(tmp_path, [(1, 30, MOMENT, 1, "train", 0.4)]))
    assert (rows.user[0], rows.item[0], rows.timestamp[0], rows.label[0]) == (1, 30, MOMENT, 1)
    assert rows.text == [None]
