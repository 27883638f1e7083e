"""Key auth: the request checks for the client key (model routes) and the admin key (admin API,
metrics). The keys' lifecycle (read or create, mode 0600) is ``modelyard.keys``'."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import SecretStr

from .errors import GatewayError

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_api_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="x-api-key: <key>")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="modelyard"'}


class KeyCheck:
    """Admits requests that carry ``key``; shared by the FastAPI routes and the fast path.

    Every credential presented must be valid (a wrong ``Authorization`` is refused even next to
    a right ``x-api-key``), so an ambiguous request never gets in. A request carrying only the
    ``lesser`` key (the client key, at an admin route) is known but not allowed: 403.
    """

    def __init__(self, key: SecretStr, what: str, lesser: SecretStr | None = None) -> None:
        self._expected = key.get_secret_value().encode()
        self._lesser = lesser.get_secret_value().encode() if lesser is not None else None
        self.what = what

    def __call__(self, headers: Mapping[str, str]) -> None:
        """Return if ``headers`` carry the key, else raise the 401 or 403 (same body and challenge always)."""
        presented = [key.encode() for key in _presented_keys(headers)]
        if not presented:
            raise GatewayError(
                401,
                f"missing {self.what}: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                _CHALLENGE,
            )
        if _all_equal(presented, self._expected):
            return
        if self._lesser is not None and _all_equal(presented, self._lesser):
            raise GatewayError(403, f"this route needs the {self.what}; the client API key is not enough")
        raise GatewayError(401, f"invalid {self.what}", _CHALLENGE)


def _all_equal(presented: list[bytes], expected: bytes) -> bool:
    # Compare every credential (no short-circuit), each in constant time.
    return all([hmac.compare_digest(key, expected) for key in presented])


def key_checks(
    api_key: SecretStr | None, admin_key: SecretStr | None
) -> tuple[KeyCheck | None, KeyCheck | None]:
    """The client and admin checks; ``None`` (auth off) admits everyone."""
    if api_key is None or admin_key is None:
        return None, None
    return KeyCheck(api_key, "API key"), KeyCheck(admin_key, "admin key", lesser=api_key)


def auth_dependencies(check: KeyCheck | None) -> list[Any]:
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
