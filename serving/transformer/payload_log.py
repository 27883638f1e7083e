"""One version's payload log: each answered instance, as the model saw and answered it.

The transformer hands over a request's columns after its answer is encoded; this samples, adds the
columns every model shares (once per request: the writer repeats them per row) and offers them to
the background writer (``modelyard.payloads``). Nothing here may slow or fail a request: the
writer's buffer is never waited on, and an error while taking the columns is logged and counted,
not raised. Only model inputs after preprocessing and outputs are logged: never headers, so never
the API key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from modelyard.logs import event
from modelyard.payloads import (
    Chunk,
    LogThrottle,
    ParquetSink,
    payload_logged,
    payload_partition,
    payload_sink,
)
from modelyard.settings import Settings
from serving.transformer import metrics

log = logging.getLogger(__name__)


class PayloadLog:
    """Samples and queues one version's rows; a no-op when the model's logging is off."""

    def __init__(self, settings: Settings, model: str, version: int) -> None:
        self.model, self.version = model, str(version)
        self.partition = payload_partition(model, version)
        self.rate = settings.payload_sample_rate
        self._count = metrics.payload_rows_counter(model, version)
        self.sink: ParquetSink | None = (
            payload_sink(settings, on_count=self._count) if payload_logged(settings, model) else None
        )
        self._error_log = LogThrottle()

    def record(
        self, request_id: str, latency_s: float, rows: int, build_columns: Callable[[], dict[str, Any]]
    ) -> None:
        """Log a request's ``rows`` instances (``build_columns``: this model's columns, one value per
        instance: a list, or a 2-D float array for a list column)."""
        if self.sink is None or (self.rate < 1.0 and random.random() >= self.rate):
            return
        try:
            columns = build_columns()
        except Exception as error:  # noqa: BLE001 - a logging bug must never fail the answer
            self._count("failed", self.partition, rows)
            if self._error_log.ready():
                event(log, "payload_rows_failed", logging.WARNING, model=self.model, error=repr(error))
            return
        shared = {
            "time": time.time(),
            "model": self.model,
            "version": self.version,
            "request_id": request_id,
            "latency_ms": latency_s * 1000.0,
        }
        self.sink.offer(self.partition, Chunk(rows, shared, {"index": range(rows), **columns}))

    def close(self) -> None:
        """Write what is queued (at shutdown)."""
        if self.sink is not None:
            self.sink.close()
