"""Feedback joined to logged answers (moderators' labels to texts, users' clicks to served items):
which rows are trained on, which are the gate's window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loop.feedback import join_clicks, join_labels, summary
from modelyard.payloads import FEEDBACK_SCHEMA, PAYLOAD_SCHEMA
from training.feedback import RECENT, TRAIN, read_labelled, write_labelled


def payloads(rows: list[tuple[float, str, int, str, str, list[float]]]) -> pa.Table:
    """(time, request_id, index, text, version, scores) rows in the payload log's columns."""
    time, request_id, index, text, version, scores = zip(*rows, strict=True)
    return pa.table(
        {
            "time": list(time),
            "model": ["moderation"] * len(rows),
            "version": list(version),
            "request_id": list(request_id),
            "index": pa.array(index, pa.int32()),
            "text": list(text),
            "scores": pa.array(scores, pa.list_(pa.float32())),
        }
    )


def feedback(rows: list[tuple[float, str, int]]) -> pa.Table:
    time, request_id, label = zip(*rows, strict=True)
    return pa.table({"time": list(time), "request_id": list(request_id), "label": pa.array(label, pa.int8())})


def test_only_labelled_requests_each_instance_and_the_latest_verdict() -> None:
    logged = payloads(
        [
            (1.0, "a", 0, "parcel fee", "1", [0.2]),
            (1.0, "a", 1, "second text of a", "1", [0.4]),
            (2.0, "b", 0, "hello", "1", [0.1]),
            (3.0, "c", 0, "never labelled", "1", [0.9]),
        ]
    )
    labels = feedback([(5.0, "a", 0), (6.0, "a", 1), (7.0, "b", 0), (8.0, "z", 1)])
    table = join_labels(logged, labels, champion_version="1").to_pydict()
    assert table["text"] == ["parcel fee", "second text of a", "hello"]
    assert table["label"] == [1, 1, 0]  # the moderator's correction wins
    assert table["served_score"] == [np.float32(0.2), np.float32(0.4), np.float32(0.1)]


def test_split_is_stable_by_request_and_recent_is_only_what_the_champion_served() -> None:
    rows = [(float(i), f"req-{i}", 0, f"text {i}", "2" if i % 3 else "1", [0.5]) for i in range(400)]
    labels = feedback([(1000.0 + i, f"req-{i}", i % 2) for i in range(400)])
    first = join_labels(payloads(rows), labels, champion_version="2").to_pydict()
    again = join_labels(payloads(rows[::-1]), labels, champion_version="2").to_pydict()
    assert dict(zip(first["request_id"], first["part"], strict=True)) == dict(
        zip(again["request_id"], again["part"], strict=True)
    )
    recent = [v for v, part in zip(first["served_version"], first["part"], strict=True) if part == RECENT]
    assert recent and set(recent) == {"2"}
    share = len(recent) / first["served_version"].count("2")
    assert 0.4 < share < 0.6  # about RECENT_SHARE of the champion's labelled requests
    counts = summary(join_labels(payloads(rows), labels, champion_version="2"))
    assert counts["rows"] == 400 and counts["train"] + counts["recent"] == 400 and counts["harmful"] == 200


def test_feedback_file_round_trip(tmp_path: Path) -> None:
    logged = payloads([(1.0, "a", 0, "wallet locked", "1", [0.3, 0.7]), (2.0, "b", 0, "hi", "1", [])])
    table = join_labels(logged, feedback([(3.0, "a", 1), (3.0, "b", 0)]), champion_version=None)
    rows = read_labelled(write_labelled(tmp_path / "f.parquet", table))
    assert rows.text == ["wallet locked", "hi"] and rows.label.tolist() == [1.0, 0.0]
    assert rows.served_score[0] == np.float32(0.7) and np.isnan(rows.served_score[1])
    texts = rows.select(TRAIN)[0] + rows.select(RECENT)[0]
    assert sorted(texts) == ["hi", "wallet locked"] and len(rows.digest) == 64


def rankings(rows: list[tuple[float, str, str, int, list[int], int | None]]) -> pa.Table:
    """(time, request_id, version, user, items, timestamp asked about) rows; item i scores i/100."""
    return pa.Table.from_pylist(
        [
            {
                "time": time,
                "model": "ranking",
                "version": version,
                "request_id": request_id,
                "index": 0,
                "user": user,
                "items": items,
                "scores": [item / 100 for item in items],
                "timestamp": stamp,
            }
            for time, request_id, version, user, items, stamp in rows
        ],
        schema=PAYLOAD_SCHEMA,
    )


def clicks(rows: list[tuple[float, str, int, bool]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"time": time, "model": "ranking", "request_id": rid, "item": item, "clicked": clicked}
            for time, rid, item, clicked in rows
        ],
        schema=FEEDBACK_SCHEMA,
    )


def test_clicks_join_served_items_with_the_moment_asked_about_and_the_latest_word() -> None:
    logged = rankings(
        [
            (100.0, "a", "1", 7, [10, 20, 30], 880_000_000),
            (101.0, "b", "1", 8, [40], None),  # logged before the timestamp column: serving time
        ]
    )
    said = clicks(
        [
            (200.0, "a", 10, True),
            (201.0, "a", 20, False),
            (202.0, "a", 20, True),  # the user clicked it after all
            (203.0, "a", 99, True),  # never served in "a": joins nothing
            (204.0, "b", 40, False),
            (205.0, "zz", 10, True),  # no such request
        ]
    )
    table = join_clicks(logged, said, champion_version=None).to_pydict()
    assert list(zip(table["user"], table["item"], table["label"], strict=True)) == [
        (7, 10, 1),
        (7, 20, 1),
        (8, 40, 0),
    ]
    assert table["timestamp"] == [880_000_000, 880_000_000, 101]
    assert table["served_score"] == pytest.approx([0.1, 0.2, 0.4])
    assert table["text"] == [None] * 3
    counts = summary(join_clicks(logged, said, None), "clicked")
    assert counts == {"rows": 3, "train": 2, "recent": 1, "clicked": 2}


def test_the_newer_half_of_the_champions_requests_is_the_recent_window() -> None:
    logged = rankings(
        [(float(t), f"r{t}", "2" if t % 4 else "1", t, [t % 5 + 1, 6], 880_000_000 + t) for t in range(40)]
    )
    said = clicks([(500.0 + t, f"r{t}", item, t % 3 == 0) for t in range(40) for item in (t % 5 + 1, 6)])
    table = join_clicks(logged, said, champion_version="2").to_pydict()
    parts = dict(zip(table["request_id"], table["part"], strict=True))
    recent = sorted(int(rid[1:]) for rid, part in parts.items() if part == RECENT)
    assert recent == [t for t in range(20, 40) if t % 4]  # the newer half, only what v2 served
    assert all(parts[f"r{t}"] == TRAIN for t in range(20))
