"""The fast path: the hot model routes (predict and infer) served as plain ASGI.

FastAPI's per-request machinery (routing, dependency solving, exception middlewares, request
and response objects) cost about twice the gateway's own work per forwarded request, and the
gateway's CPU is taken from the models it fronts. So a POST to one of ``BODY_ROUTES`` skips it:
the fast path matches the path with the router's own pattern and runs the very same auth
check, body limits, rollout choice, proxy, error answers and request record as the FastAPI
route would. Everything else (health, metrics, metadata, admin, docs, 404/405) goes to FastAPI,
which still declares the body routes, so the OpenAPI document is unchanged.
"""

from __future__ import annotations

from re import Pattern

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from .auth import KeyCheck
from .errors import GatewayError, gateway_error_response
from .forwarding import BODY_ROUTES, BodyRoute, ModelForwarder
from .incoming import Incoming
from .metrics import GatewayMetrics
from .middleware import RequestRecordMiddleware, request_record

_MATCH_KEY = "modelyard.fast_path"


class FastPath:
    """Serves POSTs to the body routes; ``claims`` says which requests those are."""

    def __init__(
        self, forwarder: ModelForwarder, check_key: KeyCheck | None, metrics: GatewayMetrics, debug: bool
    ) -> None:
        self.forwarder = forwarder
        self.check_key = check_key
        self.routes: tuple[tuple[Pattern[str], BodyRoute], ...] = tuple(
            (compile_path(route.path)[0], route) for route in BODY_ROUTES
        )
        # The wrapping FastAPI gives its routes too: the request record, and a plain 500 on a bug.
        self.app = ServerErrorMiddleware(RequestRecordMiddleware(self.serve, metrics), debug=debug)

    def claims(self, scope: Scope) -> bool:
        """True for a POST to a body route (the match is kept in ``scope`` for ``serve``).

        A mounted app (``root_path`` set) is left to FastAPI, which knows how to strip it.
        """
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return False
        for pattern, route in self.routes:
            match = pattern.match(scope["path"])
            if match is not None:
                scope[_MATCH_KEY] = (route, match["model"], match.groupdict().get("version"))
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Auth, then forward; a refusal answers as the FastAPI error handler would."""
        route, model, version = scope[_MATCH_KEY]
        request = Incoming.from_scope(scope, receive)
        try:
            if self.check_key is not None:
                self.check_key(request.headers)
            record = request_record(scope)
            response = await self.forwarder.forward_body(route, request, record, model, version)
        except GatewayError as exc:
            response = gateway_error_response(exc)
        await response(scope, receive, send)


class GatewayApp(FastAPI):
    """The FastAPI app with the fast path in front of it.

    A subclass rather than a wrapper, so that callers keep every FastAPI attribute they use
    (``router.lifespan_context``, ``openapi()``, ``routes``) and lifespan events reach FastAPI.
    """

    fast_path: FastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and self.fast_path.claims(scope):
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
