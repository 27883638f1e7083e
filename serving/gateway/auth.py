"""API-key auth: the key's lifecycle (read or create, mode 0600) and the request check."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import SecretStr

from modelyard.errors import UsageError
from modelyard.logs import event

from .errors import GatewayError

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_api_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="x-api-key: <api key>")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="modelyard"'}


def resolve_api_key(configured: SecretStr | None, key_file: Path) -> SecretStr:
    """The configured key, else the one in ``key_file``, else a new one written there (0600)."""
    if configured is not None and configured.get_secret_value():
        return configured
    if key_file.exists():
        return _read_key_file(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL + mode at creation: the key is never readable by others, not even briefly.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    event(log, "api_key_created", path=str(key_file))
    return SecretStr(key)


def _read_key_file(key_file: Path) -> SecretStr:
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        event(log, "api_key_file_too_open", logging.WARNING, path=str(key_file), mode=oct(mode))
    key = key_file.read_text().strip()
    if not key:
        raise UsageError(f"API key file {key_file} is empty", hint=f"delete {key_file} to generate a new key")
    return SecretStr(key)


class ApiKeyCheck:
    """Admits requests that carry the API key; shared by the FastAPI routes and the fast path.

    Every credential presented must be valid (a wrong ``Authorization`` is refused even next to
    a right ``x-api-key``), so an ambiguous request never gets in.
    """

    def __init__(self, api_key: SecretStr) -> None:
        self._expected = api_key.get_secret_value().encode()

    def __call__(self, headers: Mapping[str, str]) -> None:
        """Return if ``headers`` carry the key, else raise the 401 (same body and challenge always)."""
        presented = _presented_keys(headers)
        if not presented:
            raise GatewayError(
                401, "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'", _CHALLENGE
            )
        # Compare every credential (no short-circuit), each in constant time.
        if not all([hmac.compare_digest(key.encode(), self._expected) for key in presented]):
            raise GatewayError(401, "invalid API key", _CHALLENGE)


def api_key_check(api_key: SecretStr | None) -> ApiKeyCheck | None:
    """The check for ``api_key``; ``None`` (auth off) admits everyone."""
    return None if api_key is None else ApiKeyCheck(api_key)


def auth_dependencies(check: ApiKeyCheck | None) -> list[Any]:
    """Router dependencies running ``check`` (none when auth is off).

    The two header schemes are declared too, only so the OpenAPI document lists them.
    """
    if check is None:
        return []

    async def require_api_key(request: Request) -> None:
        check(request.headers)

    return [Depends(_bearer), Depends(_api_key_header), Depends(require_api_key)]


def _presented_keys(headers: Mapping[str, str]) -> list[str]:
    keys = []
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        keys.append(credentials.strip() if scheme.lower() == "bearer" else "")
    if "x-api-key" in headers:
        keys.append(headers["x-api-key"])
    return keys
