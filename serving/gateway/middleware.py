"""Per-request bookkeeping: request id, model/version headers, one log line, metrics.

A pure ASGI middleware, so it sees every response (including refusals raised before the
handler ran) and never buffers bodies. It wraps both the FastAPI app and the fast path, whose
handlers fill the ``RequestRecord`` once they know which model and version answer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.logs import event

from .metrics import GatewayMetrics

log = logging.getLogger("serving.gateway.requests")

_RECORD_KEY = "modelyard.request_record"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MODEL_HEADER = "x-modelyard-model"
VERSION_HEADER = "x-modelyard-version"
REQUEST_ID_HEADER = "x-request-id"
_ID_NAME, _MODEL_NAME, _VERSION_NAME = (h.encode() for h in (REQUEST_ID_HEADER, MODEL_HEADER, VERSION_HEADER))
_STAMPED = frozenset((_ID_NAME, _MODEL_NAME, _VERSION_NAME))


@dataclass
class RequestRecord:
    """What the log line and metrics say about one request."""

    request_id: str
    model: str | None = None
    version: str | None = None
    error_kind: str | None = None
    """Set by the proxy when the upstream failed; otherwise derived from the status."""


def request_record(scope: Scope) -> RequestRecord:
    """The record the middleware opened for this request (``scope``: its ASGI scope)."""
    return scope[_RECORD_KEY]


class RequestRecordMiddleware:
    """Stamps ids and model/version headers, logs one line and records metrics per request."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = RequestRecord(request_id=_request_id(scope))
        scope[_RECORD_KEY] = record
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _stamped(message.get("headers", ()), record)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._finish(scope, record, status, time.perf_counter() - started)

    def _finish(self, scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
        error_kind = record.error_kind or _error_kind(status)
        if record.model is not None and record.version is not None:
            self.metrics.observe(record.model, record.version, status, seconds, error_kind)
        if scope["path"] == "/metrics" or scope["path"].startswith("/v2/health/"):
            return  # scrapes and probes every few seconds would drown the request log
        event(
            log,
            "gateway_request",
            logging.WARNING if status >= 500 else logging.INFO,
            request_id=record.request_id,
            method=scope["method"],
            path=scope["path"],
            model=record.model,
            version=record.version,
            status=status,
            ms=round(seconds * 1000, 2),
        )


def _stamped(headers: Iterable[tuple[bytes, bytes]], record: RequestRecord) -> list[tuple[bytes, bytes]]:
    """``headers`` with the request id (and model and version, once known) set: a plain list
    operation, as starlette's ``MutableHeaders`` costs measurable CPU per request."""
    stamps = [(_ID_NAME, record.request_id.encode("latin-1"))]
    if record.model is not None and record.version is not None:
        stamps.append((_MODEL_NAME, record.model.encode("latin-1")))
        stamps.append((_VERSION_NAME, record.version.encode("latin-1")))
    return [header for header in headers if header[0] not in _STAMPED] + stamps


def _request_id(scope: Scope) -> str:
    # Keep a caller's id for tracing across services, unless it could forge log content.
    for name, value in scope["headers"]:
        if name == _ID_NAME:
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def _error_kind(status: int) -> str | None:
    if status >= 500:
        return "upstream_error"
    if status >= 400:
        return "client_error"
    return None
