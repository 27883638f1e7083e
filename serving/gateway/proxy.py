"""Forwarding to upstream model servers over one pooled async HTTP client."""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import Request, Response

from modelyard.logs import event

from .config import Upstream
from .errors import GatewayError
from .middleware import MODEL_HEADER, REQUEST_ID_HEADER, VERSION_HEADER, RequestRecord

log = logging.getLogger(__name__)

# Only what the model server needs: never the caller's credentials or cookies.
_FORWARDED_REQUEST_HEADERS = (
    "content-type",
    "accept",
    "inference-header-content-length",
    "traceparent",
    "tracestate",
)
# Hop-by-hop, re-computed, or stamped by the gateway itself.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "te",
        "trailer",
        "content-length",
        "content-encoding",
        "date",
        "server",
        MODEL_HEADER,
        VERSION_HEADER,
        REQUEST_ID_HEADER,
    }
)
_READY_PROBE_TIMEOUT_S = 2.0


class UpstreamProxy:
    """Sends a request to an upstream and turns transport failures into a clear 503."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def forward(
        self,
        request: Request,
        record: RequestRecord,
        upstream: Upstream,
        path: str,
        body: bytes | None = None,
    ) -> Response:
        """The upstream's answer to ``path``, status and body unchanged."""
        headers = {
            name: request.headers[name] for name in _FORWARDED_REQUEST_HEADERS if name in request.headers
        }
        headers[REQUEST_ID_HEADER] = record.request_id
        if body is not None and "content-type" not in headers:
            headers["content-type"] = "application/json"  # kserve refuses JSON without it
        try:
            answer = await self.client.request(
                request.method,
                upstream.url + path,
                params=request.query_params.multi_items(),
                content=body,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise self._unavailable(
                record, upstream, f"did not answer within {self.timeout_s:g} s", exc
            ) from None
        except httpx.TransportError as exc:
            raise self._unavailable(record, upstream, "is unreachable", exc) from None
        record.version = answer.headers.get(VERSION_HEADER, upstream.version)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS}
        return Response(content=answer.content, status_code=answer.status_code, headers=kept)

    def _unavailable(
        self, record: RequestRecord, upstream: Upstream, what: str, exc: httpx.TransportError
    ) -> GatewayError:
        record.error_kind = "upstream_unavailable"
        event(
            log,
            "upstream_unavailable",
            logging.WARNING,
            request_id=record.request_id,
            model=record.model,
            version=upstream.version,
            upstream=upstream.url,
            error=type(exc).__name__,
        )
        return GatewayError(
            503,
            f"model {record.model!r} (version {upstream.version}) {what}; retry later",
            {"Retry-After": "1"},
        )

    async def is_ready(self, model: str, upstream: Upstream) -> bool:
        """True when the upstream says the model is ready (KServe V2 model-ready)."""
        try:
            answer = await self.client.get(
                f"{upstream.url}/v2/models/{model}/ready", timeout=min(self.timeout_s, _READY_PROBE_TIMEOUT_S)
            )
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    async def readiness(self, targets: list[tuple[str, Upstream]]) -> dict[str, bool]:
        """``{"model@version": ready}`` for every target, probed concurrently."""
        results = await asyncio.gather(*(self.is_ready(model, upstream) for model, upstream in targets))
        return {
            f"{model}@{upstream.version}": ok for (model, upstream), ok in zip(targets, results, strict=True)
        }
