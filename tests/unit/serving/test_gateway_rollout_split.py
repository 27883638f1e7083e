"""The sticky split: same key, same variant; the share matches the percent; growth keeps users."""

from __future__ import annotations

import math
import uuid

import pytest

from serving.gateway.rollout.split import routing_key, takes_canary

KEYS = [uuid.uuid4().hex for _ in range(20_000)]


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_share_of_keys_matches_percent_within_statistical_tolerance(percent: int) -> None:
    share = sum(takes_canary("moderation", key, percent) for key in KEYS) / len(KEYS)
    p = percent / 100
    sigma = math.sqrt(p * (1 - p) / len(KEYS))
    assert abs(share - p) < 5 * sigma, f"{share:.4f} vs {p}"


def test_a_key_always_gets_the_same_variant() -> None:
    first = [takes_canary("ranking", key, 30) for key in KEYS[:500]]
    assert first == [takes_canary("ranking", key, 30) for key in KEYS[:500]]


def test_raising_the_percent_keeps_every_canary_user_on_the_canary() -> None:
    at_10 = {key for key in KEYS if takes_canary("ranking", key, 10)}
    at_50 = {key for key in KEYS if takes_canary("ranking", key, 50)}
    assert at_10 and at_10 <= at_50


def test_edges_send_nobody_or_everybody() -> None:
    assert not any(takes_canary("ranking", key, 0) for key in KEYS[:1000])
    assert all(takes_canary("ranking", key, 100) for key in KEYS[:1000])


def test_models_pick_different_users() -> None:
    ranking = {key for key in KEYS if takes_canary("ranking", key, 10)}
    moderation = {key for key in KEYS if takes_canary("moderation", key, 10)}
    assert len(ranking & moderation) < 0.2 * len(ranking)  # ~10% overlap if independent


def test_user_header_wins_over_the_request_id() -> None:
    assert routing_key({"x-user-id": "alice"}, "req-1") == "alice"
    assert routing_key({}, "req-1") == "req-1"
