"""Rollout metrics on the gateway's registry: shadow traffic and the current split.

Requests actually served by a canary are already counted by the gateway per model and
version; shadow copies are not served, so they get their own families.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving.gateway.metrics import LATENCY_BUCKETS, family

SHADOW_REQUESTS = "modelyard_rollout_shadow_requests_total"
SHADOW_LATENCY = "modelyard_rollout_shadow_duration_seconds"
SHADOW_COMPARISONS = "modelyard_rollout_shadow_comparisons_total"
SHADOW_AGREEMENT = "modelyard_rollout_shadow_agreement_total"
UPDATED_AT = "modelyard_rollout_updated_at"
_DELTA_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["model", "version"]
        self.shadow_requests = Counter(
            family(SHADOW_REQUESTS),
            "Shadow copies sent to a candidate, by outcome (ok, error, unavailable).",
            [*labels, "outcome"],
            registry=registry,
        )
        self.shadow_dropped = Counter(
            "modelyard_rollout_shadow_dropped",
            "Shadow copies not sent because too many were in flight (the caller is never slowed).",
            labels,
            registry=registry,
        )
        self.shadow_latency = Histogram(
            SHADOW_LATENCY,
            "Candidate answer time of shadow copies.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.comparisons = Counter(
            family(SHADOW_COMPARISONS),
            "Shadow answers compared with the stable answer.",
            labels,
            registry=registry,
        )
        self.agreement = Counter(
            family(SHADOW_AGREEMENT),
            "Sum of per-request agreement (0..1) with the stable answer; divide by comparisons.",
            labels,
            registry=registry,
        )
        self.score_delta = Histogram(
            "modelyard_rollout_shadow_score_delta",
            "Mean absolute score difference between the candidate and the stable answer.",
            labels,
            buckets=_DELTA_BUCKETS,
            registry=registry,
        )
        self.percent = Gauge(
            "modelyard_rollout_canary_percent",
            "Current canary (or shadow) share of a model's traffic, in percent.",
            ["model", "mode"],
            registry=registry,
        )
        self.updated_at = Gauge(
            UPDATED_AT,
            "updated_at of the rollout this gateway applies (0: none); yard rollout waits for it.",
            ["model"],
            registry=registry,
        )
