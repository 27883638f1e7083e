"""The payload/feedback writer and readers (modelyard/payloads.py), on real files in tmp_path."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelyard.payloads import (
    FEEDBACK_SCHEMA,
    PAYLOAD_SCHEMA,
    Chunk,
    ParquetSink,
    SinkOptions,
    feedback_sink,
    payload_logged,
    payload_partition,
    payload_sink,
    read_feedback,
    read_payloads,
)
from modelyard.settings import Settings


def _row(t: float, index: int = 0, version: str = "1", request_id: str = "r") -> Chunk:
    return Chunk(
        1,
        {
            "time": t,
            "model": "moderation",
            "version": version,
            "request_id": request_id,
            "index": index,
            "latency_ms": 1.5,
            "text": f"text {index}",
            "scores": [0.1, 0.9],
            "decision": "block",
        },
    )


def _two_rows(t: float, request_id: str = "r") -> Chunk:
    """One request's two instances, as a transformer hands them over."""
    shared = {"time": t, "model": "moderation", "version": "1", "request_id": request_id, "latency_ms": 2.0}
    columns = {
        "index": range(2),
        "text": ["first", "second"],
        "scores": np.array([[0.1, 0.9], [0.8, 0.2]], dtype=np.float32),
        "decision": ["block", "allow"],
    }
    return Chunk(2, shared, columns)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(state_dir=tmp_path / "state", **overrides)


def test_paths_default_under_the_state_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.payload_dir == (tmp_path / "state" / "payloads").resolve()
    assert settings.feedback_dir == (tmp_path / "state" / "feedback").resolve()
    assert settings.payload_sample_rate == 1.0


def test_payload_logging_is_switched_off_per_model_or_by_rate(tmp_path: Path) -> None:
    assert payload_logged(_settings(tmp_path), "moderation")
    assert not payload_logged(_settings(tmp_path, payload_log_disabled=["moderation"]), "moderation")
    assert payload_logged(_settings(tmp_path, payload_log_disabled=["moderation"]), "ranking")
    assert not payload_logged(_settings(tmp_path, payload_sample_rate=0.0), "ranking")


def test_rotates_by_row_count_and_flushes_the_rest_on_close(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, PAYLOAD_SCHEMA, SinkOptions(file_rows=4, file_age_s=3600))
    now = time.time()
    for i in range(10):
        assert sink.offer("moderation/v1", _row(now + i, i))
    sink.close()
    files = sorted((tmp_path / "moderation" / "v1").glob("*.parquet"))
    assert [pq.read_metadata(f).num_rows for f in files] == [4, 4, 2]
    assert sink.counts.written == 10 and sink.counts.dropped == 0 and sink.counts.failed == 0
    name = files[0].name
    assert name.startswith(datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S"))
    assert f"-{os.getpid()}-" in name
    assert not list(tmp_path.rglob("*.tmp"))


def test_rotates_by_age_so_a_quiet_model_is_readable_soon(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, PAYLOAD_SCHEMA, SinkOptions(file_rows=1000, file_age_s=0.2))
    sink.offer("moderation/v1", _row(time.time()))
    deadline = time.monotonic() + 5
    while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(tmp_path.rglob("*.parquet"))) == 1
    sink.close()


class StalledSink(ParquetSink):
    """A sink whose writer thread waits for ``release`` first: a disk slower than the traffic."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.release = threading.Event()
        super().__init__(*args, **kwargs)

    def _run(self) -> None:
        self.release.wait()
        super()._run()


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    counted: list[tuple[str, str, int]] = []
    sink = StalledSink(
        tmp_path, PAYLOAD_SCHEMA, SinkOptions(queue_size=2), on_count=lambda *count: counted.append(count)
    )
    started = time.perf_counter()
    results = [sink.offer("moderation/v1", _two_rows(1.0)) for _ in range(50)]
    assert time.perf_counter() - started < 0.5
    assert results == [True, True] + [False] * 48
    assert sink.counts.dropped == 96 and counted.count(("dropped", "moderation/v1", 2)) == 48
    sink.release.set()
    sink.close()
    assert sink.counts.written == 4 and ("written", "moderation/v1", 4) in counted


def test_an_unwritable_dir_never_raises_and_counts_failures(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the sink wants a folder")
    sink = ParquetSink(blocker, PAYLOAD_SCHEMA, SinkOptions(file_rows=1))
    assert sink.offer("moderation/v1", _row(1.0))
    sink.close()
    assert sink.counts.failed == 1 and sink.counts.written == 0
    assert sink.offer("moderation/v1", _row(2.0)) is False  # closed: dropped, not raised


def test_chunks_repeat_their_constants_and_give_one_value_per_row(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sink = payload_sink(settings)
    sink.offer(payload_partition("moderation", 1), _two_rows(1_800_000_000.0, "a"))
    sink.offer(payload_partition("moderation", 1), _two_rows(1_800_000_001.0, "b"))
    images = np.arange(6, dtype=np.float32).reshape(2, 3)
    sink.offer(  # a visual-search request: its pixels as rows of one array, then with a query by id
        payload_partition("visual-search", 1),
        Chunk(2, {"time": 1_800_000_002.0, "request_id": "c"}, {"pixels": images, "embedding": images}),
    )
    sink.offer(
        payload_partition("visual-search", 1),
        Chunk(2, {"time": 1_800_000_003.0, "request_id": "d"}, {"pixels": [None, images[1]]}),
    )
    sink.close()
    rows = read_payloads(settings, "moderation").to_pylist()
    assert [(r["request_id"], r["index"], r["text"], r["decision"]) for r in rows] == [
        ("a", 0, "first", "block"),
        ("a", 1, "second", "allow"),
        ("b", 0, "first", "block"),
        ("b", 1, "second", "allow"),
    ]
    assert rows[1]["scores"] == pytest.approx([0.8, 0.2]) and rows[3]["latency_ms"] == 2.0
    searched = read_payloads(settings, "visual-search").to_pylist()
    assert [r["pixels"] for r in searched] == [[0, 1, 2], [3, 4, 5], None, [3, 4, 5]]
    assert [r["embedding"] for r in searched] == [[0, 1, 2], [3, 4, 5], None, None]
    assert sink.counts.written == 8 and sink.counts.failed == 0


def test_a_chunk_that_does_not_fit_the_schema_fails_alone(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, PAYLOAD_SCHEMA)
    sink.offer("moderation/v1", _two_rows(1.0, "good"))
    sink.offer("moderation/v1", Chunk(1, {"time": 2.0, "text": object()}))
    sink.offer("moderation/v1", _two_rows(3.0, "also good"))
    sink.close()
    assert (sink.counts.written, sink.counts.failed) == (4, 1)
    table = pq.read_table(next(tmp_path.rglob("*.parquet")))
    assert table["request_id"].to_pylist() == ["good", "good", "also good", "also good"]


def test_read_payloads_windows_and_versions(tmp_path: Path) -> None:
    settings = _settings(tmp_path, payload_file_rows=3)
    sink = payload_sink(settings)
    base = 1_800_000_000.0
    for i in range(6):
        sink.offer(payload_partition("moderation", 1), _row(base + i * 10, i))
    sink.offer(payload_partition("moderation", 2), _row(base + 100, 0, version="2"))
    sink.close()

    every = read_payloads(settings, "moderation")
    assert every.schema == PAYLOAD_SCHEMA and every.num_rows == 7
    assert every["time"].to_pylist() == sorted(every["time"].to_pylist())
    window = read_payloads(settings, "moderation", since=base + 10, until=base + 40)
    assert window["index"].to_pylist() == [1, 2, 3]
    as_dates = read_payloads(
        settings,
        "moderation",
        since=datetime.fromtimestamp(base + 10, UTC),
        until=datetime.fromtimestamp(base + 40, UTC).replace(tzinfo=None),
    )
    assert as_dates.num_rows == 3
    assert read_payloads(settings, "moderation", version=2)["version"].to_pylist() == ["2"]
    assert read_payloads(settings, "moderation", until=base).num_rows == 0
    row = every.to_pylist()[0]
    assert row["text"] == "text 0" and row["scores"] == pytest.approx([0.1, 0.9]) and row["user"] is None


def test_readers_answer_an_empty_table_with_the_schema(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert read_payloads(settings, "ranking").num_rows == 0
    assert read_payloads(settings, "ranking").schema == PAYLOAD_SCHEMA
    assert read_feedback(settings, "ranking").schema == FEEDBACK_SCHEMA


def test_read_feedback_skips_unreadable_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sink = feedback_sink(settings)
    click = {"model": "ranking", "user": 3, "item": 7, "clicked": True}
    rows = [
        {**click, "time": 1_800_000_000.0, "request_id": "a"},
        {**click, "time": 1_800_000_005.0, "request_id": "b", "item": 8, "clicked": False},
    ]
    for row in rows:
        sink.offer("ranking", Chunk(1, row))
    sink.close()
    (settings.feedback_dir / "ranking" / "20300101T000000-1-000001.parquet").write_text("not parquet")
    table = read_feedback(settings, "ranking", since=1_800_000_001.0)
    assert table.to_pylist() == [{**rows[1], "label": None}]
