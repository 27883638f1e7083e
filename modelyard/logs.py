"""Structured logging: one JSON object per line, readable key=value lines, or - for a person at a
terminal running ``yard`` - only the warnings and errors, because the command prints its own story.

Call ``log.info("event_name", extra={"fields": {...}})`` or the ``event`` helper; secrets
must never be passed as fields.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Literal

LogFormat = Literal["auto", "json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "text")
OWN_LOGGERS = ("modelyard", "training", "serving", "embeddings", "bench")
"""This project's packages: on a terminal their warnings show, other libraries' only with -v."""

# Libraries that set up logging or progress bars of their own when imported; setdefault keeps
# a user's own choice. MLflow's bar draws over the command's output; with its logging left alone
# its records (e.g. "Creating initial MLflow database tables") reach our handler and policy.
_QUIET_LIBRARIES = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
_ADOPTED_LIBRARIES = {"MLFLOW_CONFIGURE_LOGGING": "false"}
_SELF_CONFIGURING_LOGGERS = ("mlflow", "ray")
_LEVEL_COLOURS = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[31m"}


class _Formatter(logging.Formatter):
    def __init__(self, style: Literal["json", "text", "people"], colour: bool = False) -> None:
        super().__init__()
        self.style = style
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        if self.style == "json":
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
        kv = " ".join(f"{k}={v}" for k, v in fields.items())
        if self.style == "people":  # "warning: event k=v", the level coloured on a terminal
            level = record.levelname.lower()
            if self.colour and record.levelname in _LEVEL_COLOURS:
                level = f"{_LEVEL_COLOURS[record.levelname]}{level}\033[0m"
            return f"{level}: {record.getMessage()} {kv}".rstrip()
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname.lower():7s} {record.name}: {record.getMessage()} {kv}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at emit time, so a rich progress display that redirects
    stderr while it runs prints a warning above its bars instead of through them."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - logging's own attribute
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _Threshold(logging.Filter):
    """Our own records from ``own_level``, other libraries' from ``library_level``."""

    def __init__(self, own_level: int, library_level: int) -> None:
        super().__init__()
        self.own_level = own_level
        self.library_level = library_level

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".", 1)[0] in OWN_LOGGERS
        return record.levelno >= (self.own_level if own else self.library_level)


def configure(
    level: str | None = None,
    log_format: LogFormat | None = None,
    verbose: bool = False,
    interactive: bool = False,
) -> None:
    """Install the handler on the root logger (idempotent).

    ``log_format`` (default ``MODELYARD_LOG_FORMAT``, else ``auto``): ``json``; ``text`` (time, level,
    logger, event, key=value); ``auto`` = JSON when stderr is not a terminal, else text, or for an
    ``interactive`` command (``yard``) only warnings of this project and errors of any library, as
    ``warning: event k=v``. ``verbose`` (``yard -v``): INFO of every library too, their warnings
    and progress bars included; on a terminal as text.
    """
    fmt = log_format or os.environ.get("MODELYARD_LOG_FORMAT") or "auto"
    if fmt not in LOG_FORMATS:
        fmt = "auto"
    on_terminal = sys.stderr.isatty()
    style: Literal["json", "text", "people"]
    if fmt == "json" or (fmt == "auto" and not on_terminal):
        style = "json"
    elif fmt == "text" or verbose or not interactive:
        style = "text"
    else:
        style = "people"
    root = logging.getLogger()
    root.setLevel(level or os.environ.get("MODELYARD_LOG_LEVEL", "INFO"))
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(style, colour=on_terminal))
    if style == "people":
        handler.addFilter(_Threshold(logging.WARNING, logging.ERROR))
    elif interactive and not verbose:  # servers keep every library's INFO in their logs
        handler.addFilter(_Threshold(logging.NOTSET, logging.WARNING))
    root.handlers[:] = [handler]
    for library in _SELF_CONFIGURING_LOGGERS:  # if imported already, with handlers of their own
        adopt_library_logger(library)
    logging.captureWarnings(True)  # library warnings go through the same policy
    for name, value in _ADOPTED_LIBRARIES.items():
        os.environ.setdefault(name, value)
    if not verbose:
        for name, value in _QUIET_LIBRARIES.items():
            os.environ.setdefault(name, value)
    # Per-request lines from libraries: httpx logs every call, kserve three lines per request
    # (uvicorn's access log and two timings), a measurable share of a transformer's CPU. The
    # gateway logs one structured line per request with its id, and the transformers' stage
    # latencies are in /metrics; MODELYARD_LOG_LEVEL=DEBUG brings the library lines back.
    chatty_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for chatty in ("httpx", "kserve.trace", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(chatty_level)


def adopt_library_logger(name: str) -> None:
    """Send a library's records through our handler and policy instead of its own handler (Ray
    installs one on its "ray" logger when imported)."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``name`` with structured ``fields``."""
    logger.log(level, name, extra={"fields": fields})
