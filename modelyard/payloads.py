"""Payload and feedback logs: what each version was asked and answered, and what users said back.

The transformer of each version logs one row per instance it answered (the inputs after
preprocessing, the output, latency) and the gateway logs feedback (clicks, moderator labels);
both go through ``ParquetSink``, a background writer that never slows or fails a request: rows go
into a bounded queue without waiting (a full queue drops them and counts the drop), and a daemon
thread batches them into Parquet files, a new file every ``file_rows`` rows or ``file_age_s``
seconds. Each file is written whole and renamed into place, so readers never see half of one.
``read_payloads`` and ``read_feedback`` read a time window back (the monitor, retraining).

Layout: ``<payload_dir>/<model>/v<version>/<UTC %Y%m%dT%H%M%S>-<pid>-<seq>.parquet`` and
``<feedback_dir>/<model>/<UTC>-<pid>-<seq>.parquet`` (the stamp is the file's first row's time).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelyard.fsutil import write_atomically
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)

PAYLOAD_SCHEMA = pa.schema(
    [
        ("time", pa.float64()),
        ("model", pa.string()),
        ("version", pa.string()),
        ("request_id", pa.string()),
        ("index", pa.int32()),
        ("latency_ms", pa.float64()),
        ("text", pa.string()),
        ("pixels", pa.list_(pa.float32())),
        ("embedding", pa.list_(pa.float32())),
        ("user", pa.int64()),
        ("items", pa.list_(pa.int64())),
        ("scores", pa.list_(pa.float32())),
        ("decision", pa.string()),
    ]
)
"""One row per answered instance; model-specific columns are null for the other models."""

FEEDBACK_SCHEMA = pa.schema(
    [
        ("time", pa.float64()),
        ("model", pa.string()),
        ("request_id", pa.string()),
        ("user", pa.int64()),
        ("item", pa.int64()),
        ("clicked", pa.bool_()),
        ("label", pa.int8()),
    ]
)
"""One row per feedback call; joined to payloads by ``request_id`` (and ``item`` for ranking)."""

STAMP = "%Y%m%dT%H%M%S"

Row = dict[str, Any]
CountHook = Callable[[str, str, int], None]
"""``(outcome, partition, rows)``: written / dropped / failed rows, e.g. into a Prometheus counter."""
Moment = float | datetime | None
"""A window bound: unix seconds, a datetime (naive means UTC), or None for open."""


@dataclass
class SinkCounts:
    """Rows by fate, read by /metrics (plain ints: one writer thread, one request thread)."""

    written: int = 0
    dropped: int = 0
    failed: int = 0


@dataclass(frozen=True)
class SinkOptions:
    """How much a writer holds and when it starts a new file (the ``payload_*`` settings)."""

    queue_size: int = 10_000
    file_rows: int = 10_000
    file_age_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SinkOptions:
        return cls(settings.payload_queue_size, settings.payload_file_rows, settings.payload_file_age_s)


class LogThrottle:
    """Lets a repeating warning through at most once per ``every_s``: a sink that cannot write
    (full disk, read-only volume) fails every file, and the log must not drown in it."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._last = -every_s

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return False
        self._last = now
        return True


@dataclass
class _Batch:
    rows: list[Row] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class ParquetSink:
    """A background writer of rows to rotating Parquet files under ``root/<partition>/``.

    ``offer`` never blocks and never raises; write errors are logged (rate-limited) and counted
    in ``counts.failed``, and ``on_count`` (optional) hears of every written, dropped or failed
    batch, from whichever thread it happened in.
    """

    def __init__(
        self,
        root: Path,
        schema: pa.Schema,
        options: SinkOptions = SinkOptions(),
        on_count: CountHook | None = None,
    ) -> None:
        self.root, self.schema = Path(root), schema
        self.file_rows, self.file_age_s = options.file_rows, options.file_age_s
        self.counts = SinkCounts()
        self._on_count = on_count
        self._queue: queue.Queue[tuple[str, list[Row]] | None] = queue.Queue(maxsize=options.queue_size)
        self._batches: dict[str, _Batch] = {}
        self._seq = 0
        self._error_log = LogThrottle()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"parquet-sink:{root}", daemon=True)
        self._thread.start()

    def offer(self, partition: str, rows: list[Row]) -> bool:
        """Queue ``rows`` for ``root/partition`` without waiting; False (and counted) if dropped."""
        if not rows:
            return True
        try:
            if self._closed:
                raise queue.Full
            self._queue.put_nowait((partition, rows))
            return True
        except queue.Full:
            self._count("dropped", partition, len(rows))
            return False

    def close(self, timeout_s: float = 10.0) -> None:
        """Write every queued row, then stop the thread (waits at most ``timeout_s``)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            event(log, "payload_sink_close_timeout", logging.WARNING, root=str(self.root))
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._wait_s())
            except queue.Empty:
                item = ()
            if item is None:
                break
            if item:
                partition, rows = item
                self._batches.setdefault(partition, _Batch()).rows.extend(rows)
            self._rotate(force=False)
        self._rotate(force=True)

    def _wait_s(self) -> float:
        """Sleep until the oldest open batch is due (at most a second, to notice closing soon)."""
        if not self._batches:
            return 1.0
        oldest = min(batch.opened for batch in self._batches.values())
        return max(0.01, min(1.0, oldest + self.file_age_s - time.monotonic()))

    def _rotate(self, force: bool) -> None:
        now = time.monotonic()
        for partition, batch in list(self._batches.items()):
            full = len(batch.rows) >= self.file_rows
            if force or full or now - batch.opened >= self.file_age_s:
                del self._batches[partition]
                self._write(partition, batch.rows)

    def _write(self, partition: str, rows: list[Row]) -> None:
        try:
            table = pa.Table.from_pylist(rows, schema=self.schema)
            self._seq += 1
            path = self.root / partition / file_name(_first_time(rows), self._seq)
            write_atomically(path, lambda staging: pq.write_table(table, staging))
        except Exception as error:  # noqa: BLE001 - a sink error must never reach a request
            self._count("failed", partition, len(rows))
            if self._error_log.ready():
                event(
                    log,
                    "payload_write_failed",
                    logging.WARNING,
                    root=str(self.root),
                    partition=partition,
                    rows=len(rows),
                    error=f"{type(error).__name__}: {error}",
                )
            return
        self._count("written", partition, len(rows))

    def _count(self, outcome: str, partition: str, rows: int) -> None:
        setattr(self.counts, outcome, getattr(self.counts, outcome) + rows)
        if self._on_count is not None:
            self._on_count(outcome, partition, rows)


def _first_time(rows: list[Row]) -> float | None:
    times = [row["time"] for row in rows if row.get("time") is not None]
    return min(times) if times else None


def file_name(first_time: float | None, seq: int) -> str:
    """``<UTC stamp of the first row>-<pid>-<seq>.parquet``: unique per process, sortable by time."""
    moment = datetime.fromtimestamp(first_time if first_time is not None else time.time(), UTC)
    return f"{moment.strftime(STAMP)}-{os.getpid()}-{seq:06d}.parquet"


def payload_partition(model: str, version: int | str) -> str:
    return f"{model}/v{version}"


def payload_sink(settings: Settings, on_count: CountHook | None = None) -> ParquetSink:
    """The payload writer (partition = ``payload_partition``), configured by ``settings``."""
    return ParquetSink(settings.payload_dir, PAYLOAD_SCHEMA, SinkOptions.from_settings(settings), on_count)


def feedback_sink(settings: Settings, on_count: CountHook | None = None) -> ParquetSink:
    """The feedback writer (partition = model name), configured by ``settings``."""
    return ParquetSink(settings.feedback_dir, FEEDBACK_SCHEMA, SinkOptions.from_settings(settings), on_count)


def payload_logged(settings: Settings, model: str) -> bool:
    """Whether ``model``'s payloads are logged at all (sample rate above 0, not switched off)."""
    return settings.payload_sample_rate > 0 and model not in settings.payload_log_disabled


def read_payloads(
    settings: Settings,
    model: str,
    since: Moment = None,
    until: Moment = None,
    version: int | str | None = None,
) -> pa.Table:
    """``model``'s logged rows with ``since <= time < until`` (every version, or one)."""
    root = settings.payload_dir / model
    folders = [root / f"v{version}"] if version is not None else sorted(root.glob("v*"))
    files = [path for folder in folders for path in sorted(folder.glob("*.parquet"))]
    return _read_window(files, PAYLOAD_SCHEMA, since, until)


def read_feedback(settings: Settings, model: str, since: Moment = None, until: Moment = None) -> pa.Table:
    """``model``'s feedback rows with ``since <= time < until``."""
    return _read_window(
        sorted((settings.feedback_dir / model).glob("*.parquet")), FEEDBACK_SCHEMA, since, until
    )


def _read_window(files: Iterable[Path], schema: pa.Schema, since: Moment, until: Moment) -> pa.Table:
    start, end = _seconds(since), _seconds(until)
    tables = []
    for path in files:
        if end is not None and _stamp(path) > end:
            continue  # its first row is already past the window
        try:
            table = pq.read_table(path, schema=schema)
        except (OSError, pa.ArrowException) as error:
            event(log, "payload_file_unreadable", logging.WARNING, path=str(path), error=str(error))
            continue
        tables.append(table)
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables(tables)
    if start is not None:
        table = table.filter(pc.greater_equal(table["time"], start))
    if end is not None:
        table = table.filter(pc.less(table["time"], end))
    return table.sort_by("time")


def _seconds(moment: Moment) -> float | None:
    if moment is None or isinstance(moment, int | float):
        return moment
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _stamp(path: Path) -> float:
    """The file's first-row second, from its name (0 if the name is not ours: read it)."""
    try:
        return datetime.strptime(path.name.split("-", 1)[0], STAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0
