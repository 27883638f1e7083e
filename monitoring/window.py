"""Window bounds as people write them: ISO 8601 times or durations back from now (``15m``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from modelyard.errors import UsageError

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
HINT = (
    "write an ISO time (2026-12-03T09:00:00Z; no zone means UTC) "
    "or a duration back from now (90s, 15m, 2h, 1d)"
)


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """``15m`` -> 15 minutes before ``now``; an ISO time as is (naive = UTC). Always timezone-aware."""
    now = now or datetime.now(UTC)
    stripped = text.strip()
    match = _AGO.match(stripped)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"bad time {text!r}", hint=HINT) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
