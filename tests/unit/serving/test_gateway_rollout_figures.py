"""Per-variant windows from two real scrapes of a prometheus_client registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from serving.gateway.metrics import GatewayMetrics
from serving.gateway.rollout.figures import parse_snapshot, quantile, window


def test_window_counts_requests_server_errors_and_latency_between_scrapes() -> None:
    metrics = GatewayMetrics()
    metrics.observe("ranking", "1", 200, 0.004, None)
    before = parse_snapshot(metrics.exposition().decode())
    for _ in range(98):
        metrics.observe("ranking", "1", 200, 0.004, None)
    metrics.observe("ranking", "1", 503, 0.004, "upstream_unavailable")
    metrics.observe("ranking", "1", 400, 0.004, "client_error")  # the caller's fault: not counted
    metrics.observe("ranking", "2", 200, 2.0, None)
    after = parse_snapshot(metrics.exposition().decode())
    stable = window(before, after, "served", "ranking", "1")
    assert (stable.requests, stable.errors) == (100, 1)
    assert 0.0025 < stable.p99_s <= 0.005
    canary = window(before, after, "served", "ranking", "2")
    assert canary.requests == 1 and 1.0 < canary.p50_s <= 2.5
    assert window(before, after, "served", "ranking", "9").requests == 0


def test_quantile_interpolates_inside_the_bucket_like_promql() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.5, {float("inf"): 0.0}) is None


def test_shadow_families_feed_the_shadow_source() -> None:
    from serving.gateway.rollout.metrics import RolloutMetrics

    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    for agreement in (1.0, 0.0, 1.0, 1.0):
        metrics.shadow_requests.labels("moderation", "2", "ok").inc()
        metrics.comparisons.labels("moderation", "2").inc()
        metrics.agreement.labels("moderation", "2").inc(agreement)
    metrics.shadow_requests.labels("moderation", "2", "error").inc()
    shadow = window({}, parse_snapshot(generate_latest(registry).decode()), "shadow", "moderation", "2")
    assert (shadow.requests, shadow.errors, shadow.agreement) == (5, 1, 0.75)
