"""Moderator labels joined to logged texts: which rows are trained on, which are the gate's window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from loop.feedback import join_labels, summary
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
