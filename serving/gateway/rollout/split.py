"""Sticky traffic split: the same routing key always lands on the same variant.

A key hashes to one of 10,000 buckets; the canary takes the buckets below ``percent * 100``.
Raising the percent only adds buckets, so a user already on the canary stays there while
it grows. The model name salts the hash, so one user is not the guinea pig of every model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

BUCKETS = 10_000
USER_HEADER = "x-user-id"


def bucket(model: str, key: str) -> int:
    digest = hashlib.blake2b(f"{model}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def takes_canary(model: str, key: str, percent: int) -> bool:
    """True when ``key`` belongs to the canary's share of ``model``'s traffic."""
    return bucket(model, key) < percent * BUCKETS // 100


def routing_key(headers: Mapping[str, str], request_id: str) -> str:
    """``x-user-id`` when the caller names a user, else the request id (random per request
    unless the caller sends ``x-request-id``)."""
    return headers.get(USER_HEADER) or request_id
