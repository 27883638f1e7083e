"""A small client of the gateway for ``yard query`` and ``yard demo``.

It finds the gateway and whether it needs a key from ``stack.json`` (or an explicit URL),
reads the key from where the gateway keeps it, and turns every HTTP failure into a
ModelyardError whose message is the server's own and whose hint says what to do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from modelyard.errors import ModelyardError, NotFoundError, UnavailableError, UsageError
from modelyard.keys import read_key
from modelyard.settings import Settings
from serving.stack.state import read_state

MODEL_HEADER = "x-modelyard-model"
VERSION_HEADER = "x-modelyard-version"
REQUEST_ID_HEADER = "x-request-id"
DEFAULT_TIMEOUT_S = 30.0

logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the tables


@dataclass(frozen=True)
class Answer:
    """One model's answer and who gave it."""

    model: str
    version: str
    request_id: str
    latency_ms: float
    body: dict[str, Any]

    @property
    def predictions(self) -> list[Any]:
        return self.body.get("predictions", [])


class GatewayClient:
    """Calls the gateway's KServe V1 route with the API key."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(timeout=timeout_s, headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> GatewayClient:
        """The running stack's gateway (``url`` overrides) with the key it expects."""
        if url is not None:
            return cls(url, read_api_key(settings, required=False))
        state = read_state(settings)
        if state.status not in ("ready", "degraded"):
            raise UnavailableError(f"the stack is {state.status}", hint="start it: yard serve --detach")
        return cls(state.gateway_url, read_api_key(settings, required=state.auth) if state.auth else None)

    def predict(self, model: str, body: dict[str, Any]) -> Answer:
        """POST ``/v1/models/<model>:predict``; any non-200 raises with the server's message."""
        started = time.perf_counter()
        try:
            response = self.http.post(f"{self.url}/v1/models/{model}:predict", json=body)
        except httpx.TransportError as exc:
            raise UnavailableError(
                f"the gateway at {self.url} did not answer: {type(exc).__name__}",
                hint="is the stack running? yard serve status",
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise http_error(model, response)
        return Answer(
            model=response.headers.get(MODEL_HEADER, model),
            version=response.headers.get(VERSION_HEADER, "?"),
            request_id=response.headers.get(REQUEST_ID_HEADER, ""),
            latency_ms=round(latency_ms, 1),
            body=response.json(),
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_api_key(settings: Settings, required: bool = True) -> str | None:
    """``MODELYARD_API_KEY`` if set, else the gateway's key file (never printed)."""
    return read_key(settings.api_key, settings.api_key_file, required, "API key", "MODELYARD_API_KEY")


def read_admin_key(settings: Settings, required: bool = True) -> str | None:
    """``MODELYARD_ADMIN_KEY`` if set, else the gateway's admin key file (never printed)."""
    return read_key(settings.admin_key, settings.admin_key_file, required, "admin key", "MODELYARD_ADMIN_KEY")


def http_error(model: str, response: httpx.Response) -> ModelyardError:
    """The gateway's (or model's) refusal as an error with the right exit code and a fix."""
    status = response.status_code
    message = f"{model}: HTTP {status}: {_server_message(response)}"
    if status == 401:
        return UsageError(
            message, hint="send the key from the state dir's api_key file (or MODELYARD_API_KEY)"
        )
    if status == 404:
        return NotFoundError(message, hint="yard serve status lists the models being served")
    if status in (400, 413, 415, 422):
        return UsageError(message, hint="fix the request as the message says")
    if status in (502, 503, 504):
        return UnavailableError(message, hint="retry shortly; yard serve status shows what is down")
    return ModelyardError(message, hint="read the logs under <state_dir>/serving/logs")


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)
    return str(body)
