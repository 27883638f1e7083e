"""A small client of the gateway for ``yard query`` and ``yard demo``.

It finds the gateway and whether it needs a key from ``stack.json`` (or an explicit URL),
reads the key from where the gateway keeps it, and turns every HTTP failure into a
ModelyardError whose message is the server's own and whose hint says what to do.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from modelyard.errors import ModelyardError, NotFoundError, UnavailableError, UsageError
from modelyard.keys import read_key
from modelyard.settings import Settings
from serving.stack.state import read_live_state, require_running

MODEL_HEADER = "x-modelyard-model"
VERSION_HEADER = "x-modelyard-version"
REQUEST_ID_HEADER = "x-request-id"
DEFAULT_TIMEOUT_S = 30.0

logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the tables


@dataclass(frozen=True)
class Answer:
    """One model's answer and who gave it."""

    model: str
    version: int | None
    """The registered version that answered (None only if the server did not say)."""
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
        state = require_running(read_live_state(settings))
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
        body = response.json()
        return Answer(
            model=response.headers.get(MODEL_HEADER, model),
            version=_version_number(response.headers.get(VERSION_HEADER, body.get("version"))),
            request_id=response.headers.get(REQUEST_ID_HEADER, ""),
            latency_ms=round(latency_ms, 1),
            body=body,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _version_number(value: object) -> int | None:
    """Versions are registry version numbers: one type (int) in every answer and JSON output."""
    try:
        return int(str(value))
    except ValueError:
        return None


def read_api_key(settings: Settings, required: bool = True) -> str | None:
    """``MODELYARD_API_KEY`` if set, else the gateway's key file (never printed)."""
    return read_key(settings.api_key, settings.api_key_file, required, "API key", "MODELYARD_API_KEY")


def read_admin_key(settings: Settings, required: bool = True) -> str | None:
    """``MODELYARD_ADMIN_KEY`` if set, else the gateway's admin key file (never printed)."""
    return read_key(settings.admin_key, settings.admin_key_file, required, "admin key", "MODELYARD_ADMIN_KEY")


_OWN_FIX = re.compile(r"\s*\(fix: (?P<fix>.+)\)\s*$", re.DOTALL)
"""How a modelyard error names its fix in a server's message (``ModelyardError.__str__``)."""


def http_error(model: str, response: httpx.Response) -> ModelyardError:
    """The gateway's (or model's) refusal as an error with the right exit code and one fix: the
    server's own when its message names one, else what to do about this status."""
    status = response.status_code
    server_message = _server_message(response)
    own_fix = _OWN_FIX.search(server_message)
    if own_fix is not None:
        server_message = server_message[: own_fix.start()]
    message = f"{model}: HTTP {status}: {server_message}"
    kind, hint = _STATUS_ERRORS.get(status, _OTHER_STATUS)
    return kind(message, hint=own_fix["fix"] if own_fix else hint)


_STATUS_ERRORS: dict[int, tuple[type[ModelyardError], str | None]] = {
    401: (UsageError, "send the key from the state dir's api_key file (or set MODELYARD_API_KEY)"),
    404: (NotFoundError, "yard serve status lists the models being served"),
    400: (UsageError, "each model's request format is in docs/api.md"),
    422: (UsageError, "each model's request format is in docs/api.md"),
    413: (UsageError, "send fewer or smaller items (the gateway's MODELYARD_MAX_BODY_BYTES)"),
    415: (UsageError, "send the body as JSON with Content-Type: application/json"),
    502: (UnavailableError, "yard serve status shows what is down"),
    503: (UnavailableError, "yard serve status shows what is down"),
    504: (UnavailableError, "yard serve status shows what is down"),
}
_OTHER_STATUS: tuple[type[ModelyardError], str | None] = (
    ModelyardError,
    "read the logs under <state_dir>/serving/logs",
)


def _server_message(response: httpx.Response) -> str:
    """The server's own words: its ``error`` (or FastAPI's ``detail``), as JSON when not a string
    (a Python repr of it would mean nothing to the person reading)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        body = body.get("error") or body.get("detail") or body
    return body if isinstance(body, str) else json.dumps(body)[:300]
