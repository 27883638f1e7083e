"""A client request as plain values: what auth, limits, rollouts and the proxy read of it.

The FastAPI routes build it from a starlette ``Request``, the fast path straight from the ASGI
scope; everything after that is the same code for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope


@dataclass(frozen=True, slots=True)
class Incoming:
    """One client request: method, headers (looked up by lower-case name), raw query string and
    its body as a stream not started yet (reading it is the limits' job)."""

    method: str
    headers: Mapping[str, str]
    query_string: bytes
    body: AsyncIterator[bytes]

    @classmethod
    def from_request(cls, request: Request) -> Incoming:
        return cls(request.method, request.headers, request.scope["query_string"], request.stream())

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Incoming:
        return cls(scope["method"], scope_headers(scope), scope["query_string"], _body_chunks(receive))

    def labelled_json(self) -> Incoming:
        """The same request with ``content-type: application/json`` (its body was read as JSON)."""
        return replace(self, headers={**self.headers, "content-type": "application/json"})


def scope_headers(scope: Scope) -> dict[str, str]:
    """The request headers as a dict; a repeated name keeps its first value, as starlette's
    ``Headers`` lookups do (ASGI servers send names in lower case)."""
    raw = list(scope["headers"])
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(raw)}


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; a client gone mid-body raises ``ClientDisconnect`` like
    ``Request.stream``."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
