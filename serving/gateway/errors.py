"""One error shape for every gateway answer that is not the model's: ``{"error": "..."}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class GatewayError(Exception):
    """A refusal the client can act on (status 4xx) or an upstream failure (503)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every refusal uses."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    """The answer to a ``GatewayError``, from a FastAPI route or the fast path alike."""
    return error_response(exc.status, exc.message, exc.headers)


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return gateway_error_response(exc)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    # Starlette's own 404/405 for paths the gateway does not serve, reshaped to the same body.
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Make every refusal, ours or the framework's, answer ``{"error": ...}``."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
