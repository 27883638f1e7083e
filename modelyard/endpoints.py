"""What a model server's address and a version label may look like.

One rule for every place that names an upstream: the gateway's configured routes, a rollout's
variants (the admin API, ``rollouts.json``, the Kubernetes rollouts ConfigMap) and the
rollout allow-list. A version label ends up in response headers, metric labels, file names and
log lines, so it is a short plain token; a base URL is where the gateway appends KServe paths,
so it has no credentials, query or fragment to smuggle anything through.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, Field

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""Letters, digits, ``.``, ``_``, ``-``; 1-64 characters, starting with a letter or digit."""

VersionLabel = Annotated[str, Field(pattern=VERSION_PATTERN)]
"""A model version as the gateway routes, reports and labels it (MLflow versions are numbers)."""

MAX_URL_CHARS = 2048
SCHEMES = ("http", "https")


def base_url(url: str) -> str:
    """``url`` as a model server's base URL (trailing ``/`` dropped), else ValueError saying why.

    http or https with a host, no user info, query or fragment; a path prefix is kept (a server
    behind a path-routing proxy).
    """
    parts = _split(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"URL {url!r} carries user info; give the server's plain address")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"URL {url!r} has a query or fragment; give the server's base URL only")
    return url.rstrip("/")


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a base URL (lower-case scheme and host)."""
    parts = _split(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}" + (f":{parts.port}" if parts.port is not None else "")


def allows(allowed_origin: str, url: str) -> bool:
    """True when ``url`` is on ``allowed_origin`` (``scheme://host``: any port of that host;
    ``scheme://host:port``: that port only)."""
    wanted, actual = _split(allowed_origin), _split(url)
    if (wanted.scheme.lower(), wanted.hostname) != (actual.scheme.lower(), actual.hostname):
        return False
    return wanted.port is None or _port(wanted) == _port(actual)


def allowed_origin(value: str) -> str:
    """An allow-list entry: an origin, ``scheme://host[:port]`` and nothing more."""
    base_url(value)
    if origin(value) != value.rstrip("/").lower():
        raise ValueError(f"allow-list entry {value!r} must be scheme://host[:port], nothing more")
    return value.rstrip("/").lower()


BaseUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(base_url)]
AllowedOrigin = Annotated[str, AfterValidator(allowed_origin)]


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise ValueError(f"a URL must be a string of at most {MAX_URL_CHARS} characters")
    if any(ord(char) <= 0x20 or ord(char) >= 0x7F for char in url):
        raise ValueError(f"URL {url!r} holds spaces, control or non-ASCII characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"URL {url!r} is not valid: {exc}") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ValueError(f"URL {url!r} must be http:// or https:// with a host, e.g. http://127.0.0.1:8091")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port if parts.port is not None else (443 if parts.scheme.lower() == "https" else 80)
