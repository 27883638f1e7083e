"""Structured logging: one JSON object per line (or readable key=value on a terminal).

Call ``log.info("event_name", extra={"fields": {...}})`` or the ``event`` helper; secrets
must never be passed as fields.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        if self.as_json:
            payload = {
                "ts": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": record.getMessage(),
                **fields,
            }
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
            return json.dumps(payload, default=str)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        kv = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{stamp} {record.levelname.lower():7s} {record.name}: {record.getMessage()} {kv}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str | None = None, as_json: bool | None = None) -> None:
    """Install the formatter on the root logger (idempotent).

    ``MODELYARD_LOG_FORMAT=json`` forces JSON (the default when stderr is not a terminal).
    """
    fmt = os.environ.get("MODELYARD_LOG_FORMAT")
    if as_json is None:
        as_json = fmt == "json" if fmt else not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("MODELYARD_LOG_LEVEL", "INFO"))
    # Per-request lines from libraries: httpx logs every call, kserve three lines per request
    # (uvicorn's access log and two timings), a measurable share of a transformer's CPU. The
    # gateway logs one structured line per request with its id, and the transformers' stage
    # latencies are in /metrics; MODELYARD_LOG_LEVEL=DEBUG brings the library lines back.
    chatty_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for chatty in ("httpx", "kserve.trace", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(chatty_level)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``name`` with structured ``fields``."""
    logger.log(level, name, extra={"fields": fields})
