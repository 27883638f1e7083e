"""Payload and feedback logs: what each version was asked and answered, and what users said back.

The transformer of each version logs one row per instance it answered (the inputs after
preprocessing, the output, latency) and the gateway logs feedback (clicks, moderator labels);
both go through ``ParquetSink``, a background writer that never slows or fails a request. A request
hands over one ``Chunk`` (references to the values it already holds, no per-row work) appended to a
bounded buffer without waiting or waking anyone (a full buffer drops it and counts the drop). The
writer thread wakes about once a second, turns everything buffered into one Arrow record batch per
partition (one ``pa.array`` per column; a column of 2-D float arrays is one copy) and appends it as a
row group to the partition's open Parquet file; Arrow's encoding and IO release the GIL, so the
event loop keeps running on the other core. A file is written under a hidden staging name and
renamed into place when it is finished (``file_rows`` rows or ``file_age_s`` seconds), so readers
never see half of one. ``read_payloads`` and ``read_feedback`` read a time window back (the
monitor, retraining).

Layout: ``<payload_dir>/<model>/v<version>/<UTC %Y%m%dT%H%M%S>-<pid>-<seq>.parquet`` and
``<feedback_dir>/<model>/<UTC>-<pid>-<seq>.parquet`` (the stamp is the file's first row's time).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
        ("timestamp", pa.int64()),
    ]
)
"""One row per answered instance; model-specific columns are null for the other models.
``timestamp`` is the moment the request asked about (ranking's ``context.timestamp``, unix
seconds), which the answer's features were computed at; ``time`` is when it was served."""

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
FLUSH_S = 1.0
"""How often the writer turns the buffer into a row group: rare enough that it wakes about once a
second instead of once per request (a wake-up costs the event loop a GIL hand-over), often enough
that a second's rows are encoded while they are small."""

CountHook = Callable[[str, str, int], None]
"""``(outcome, partition, rows)``: written / dropped / failed rows, e.g. into a Prometheus counter."""
Moment = float | datetime | None
"""A window bound: unix seconds, a datetime (naive means UTC), or None for open."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """``rows`` rows for one partition, as a request holds them: ``constant`` values are the same in
    every row (time, request id: given once, repeated by the writer), ``columns`` give one value per
    row (a list, or a 2-D float array for a list-of-floats column). Columns named in neither are
    null."""

    rows: int
    constant: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, Any] = field(default_factory=dict)


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
class _OpenFile:
    """A partition's file being written under its staging name; ``rows`` not yet counted."""

    path: Path
    staging: Path
    writer: pq.ParquetWriter
    rows: int = 0
    opened: float = field(default_factory=time.monotonic)


class ParquetSink:
    """A background writer of chunks to rotating Parquet files under ``root/<partition>/``.

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
        self.queue_size, self.file_rows, self.file_age_s = (
            options.queue_size,
            options.file_rows,
            options.file_age_s,
        )
        self.counts = SinkCounts()
        self._on_count = on_count
        self._buffer: deque[tuple[str, Chunk]] = deque()  # append/popleft are atomic: no lock
        self._wake = threading.Event()
        self._files: dict[str, _OpenFile] = {}
        self._seq = 0
        self._error_log = LogThrottle()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"parquet-sink:{root}", daemon=True)
        self._thread.start()

    def offer(self, partition: str, chunk: Chunk) -> bool:
        """Buffer ``chunk`` for ``root/partition`` without waiting; False (and counted) if dropped."""
        if not chunk.rows:
            return True
        held = len(self._buffer)
        if self._closed or held >= self.queue_size:
            self._count("dropped", partition, chunk.rows)
            return False
        self._buffer.append((partition, chunk))
        if held == self.queue_size // 2:
            self._wake.set()  # half full before the writer's next round: write now
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write every buffered row, finish the files, then stop the thread (waits at most
        ``timeout_s``)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            event(log, "payload_sink_close_timeout", logging.WARNING, root=str(self.root))

    def _run(self) -> None:
        record_batch(self.schema, [])  # pyarrow's first conversion imports pandas: not on a request's time
        while not self._closed:
            self._wake.wait(self._wait_s())
            self._wake.clear()
            self._flush()
        self._flush()
        for partition in list(self._files):
            self._finish(partition)

    def _wait_s(self) -> float:
        """Until the next flush, or sooner when an open file is due."""
        due = [file.opened + self.file_age_s - time.monotonic() for file in self._files.values()]
        return max(0.01, min([FLUSH_S, *due]))

    def _flush(self) -> None:
        """Everything buffered, one record batch per partition; then the files that are due."""
        chunks: dict[str, list[Chunk]] = {}
        for _ in range(len(self._buffer)):
            partition, chunk = self._buffer.popleft()
            chunks.setdefault(partition, []).append(chunk)
        for partition, parts in chunks.items():
            batch = self._batch(partition, parts)
            if batch is not None:
                self._append(partition, batch)
        now = time.monotonic()
        for partition, file in list(self._files.items()):
            if now - file.opened >= self.file_age_s:
                self._finish(partition)

    def _batch(self, partition: str, chunks: list[Chunk]) -> pa.RecordBatch | None:
        """The chunks as one record batch; a chunk whose values do not fit the schema is counted
        failed alone, and the others still go."""
        try:
            return record_batch(self.schema, chunks)
        except (pa.ArrowException, TypeError, ValueError):
            batches = []
            for chunk in chunks:
                try:
                    batches.append(record_batch(self.schema, [chunk]))
                except (pa.ArrowException, TypeError, ValueError) as error:
                    self._failed(partition, chunk.rows, error)
            return pa.concat_batches(batches) if batches else None

    def _append(self, partition: str, batch: pa.RecordBatch) -> None:
        """``batch`` into the partition's files, starting a new one every ``file_rows`` rows."""
        start = 0
        while start < batch.num_rows:
            file = self._files.get(partition)
            take = min(batch.num_rows - start, self.file_rows - (file.rows if file else 0))
            part = batch.slice(start, take)
            start += take
            try:
                file = file or self._open(partition, part)
                file.writer.write_batch(part)
            except Exception as error:  # noqa: BLE001 - a sink error must never reach a request
                self._abandon(partition, part.num_rows, error)
                continue
            file.rows += take
            if file.rows >= self.file_rows:
                self._finish(partition)

    def _open(self, partition: str, first: pa.RecordBatch) -> _OpenFile:
        self._seq += 1
        path = self.root / partition / file_name(pc.min(first["time"]).as_py(), self._seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.tmp")
        file = _OpenFile(path, staging, pq.ParquetWriter(staging, self.schema))
        self._files[partition] = file
        return file

    def _finish(self, partition: str) -> None:
        """Close, fsync and rename the partition's file into place: only now is it readable."""
        file = self._files[partition]
        try:
            file.writer.close()
            with file.staging.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(file.staging, file.path)
        except Exception as error:  # noqa: BLE001 - a sink error must never reach a request
            self._abandon(partition, 0, error)
            return
        del self._files[partition]
        self._count("written", partition, file.rows)

    def _abandon(self, partition: str, rows: int, error: Exception) -> None:
        """Give up the partition's open file (its rows, and ``rows`` more, are counted failed)."""
        file = self._files.pop(partition, None)
        if file is not None:
            rows += file.rows
            with suppress(Exception):  # the file is being thrown away
                file.writer.close()
            file.staging.unlink(missing_ok=True)
        self._failed(partition, rows, error)

    def _failed(self, partition: str, rows: int, error: Exception) -> None:
        self._count("failed", partition, rows)
        if self._error_log.ready():
            event(
                log,
                "payload_write_failed",
                logging.WARNING,
                root=str(self.root),
                partition=partition,
                rows=rows,
                error=f"{type(error).__name__}: {error}",
            )

    def _count(self, outcome: str, partition: str, rows: int) -> None:
        setattr(self.counts, outcome, getattr(self.counts, outcome) + rows)
        if self._on_count is not None:
            self._on_count(outcome, partition, rows)


def record_batch(schema: pa.Schema, chunks: list[Chunk]) -> pa.RecordBatch:
    """The chunks' rows in order, one Arrow array per column of ``schema``."""
    return pa.RecordBatch.from_arrays([_column(column, chunks) for column in schema], schema=schema)


def _column(column: pa.Field, chunks: list[Chunk]) -> pa.Array:
    name = column.name
    parts = [chunk.columns.get(name) for chunk in chunks]
    if parts and pa.types.is_list(column.type) and all(_is_matrix(part) for part in parts):
        return _list_of_rows(parts, column.type)
    values: list[Any] = []
    for chunk, part in zip(chunks, parts, strict=True):
        if part is not None:
            values.extend(part)
        else:
            values.extend([chunk.constant.get(name)] * chunk.rows)
    return pa.array(values, type=column.type)


def _is_matrix(part: Any) -> bool:
    return isinstance(part, np.ndarray) and part.ndim == 2


def _list_of_rows(matrices: list[np.ndarray], list_type: pa.ListType) -> pa.Array:
    """A list column from 2-D arrays, one row each: one copy, no Python object per value."""
    widths = np.repeat([m.shape[1] for m in matrices], [m.shape[0] for m in matrices])
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int32)
    values = np.concatenate([m.reshape(-1) for m in matrices])
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values, type=list_type.value_type), type=list_type
    )


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
