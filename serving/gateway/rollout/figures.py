"""Per-variant figures from the gateway's Prometheus text: requests, errors, p50/p99, agreement.

Counters are cumulative since the gateway started; a step's figures are the difference of
two scrapes (``window``). Quantiles come from histogram buckets the way PromQL's
``histogram_quantile`` computes them (linear inside the bucket).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from serving.gateway.metrics import ERRORS, LATENCY, REQUESTS, SERVER_ERRORS
from serving.gateway.rollout.metrics import (
    SHADOW_AGREEMENT,
    SHADOW_COMPARISONS,
    SHADOW_LATENCY,
    SHADOW_REQUESTS,
    UPDATED_AT,
)
from serving.gateway.rollout.state import Rollout, Variant


@dataclass
class VariantCounters:
    """Cumulative counters of one (model, version) as scraped."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    """Upper bound -> cumulative count."""
    comparisons: float = 0.0
    agreement_sum: float = 0.0


Snapshot = dict[tuple[str, str, str], VariantCounters]
"""(source ``served``|``shadow``, model, version) -> counters."""


@dataclass(frozen=True)
class VariantWindow:
    """What one variant did between two scrapes."""

    requests: int
    errors: int
    p50_s: float | None
    p99_s: float | None
    agreement: float | None = None
    """Shadow only: mean agreement with the stable answer over the window."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def parse_snapshot(text: str) -> Snapshot:
    snapshot: Snapshot = defaultdict(VariantCounters)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if "model" not in labels or "version" not in labels:
                continue
            served = snapshot[("served", labels["model"], labels["version"])]
            shadow = snapshot[("shadow", labels["model"], labels["version"])]
            match sample.name:
                case name if name == REQUESTS:
                    served.requests += sample.value
                case name if name == ERRORS and labels.get("kind") in SERVER_ERRORS:
                    served.errors += sample.value
                case name if name == f"{LATENCY}_bucket":
                    served.buckets[float(labels["le"])] = sample.value
                case name if name == SHADOW_REQUESTS:
                    shadow.requests += sample.value
                    if labels.get("outcome") != "ok":
                        shadow.errors += sample.value
                case name if name == f"{SHADOW_LATENCY}_bucket":
                    shadow.buckets[float(labels["le"])] = sample.value
                case name if name == SHADOW_COMPARISONS:
                    shadow.comparisons += sample.value
                case name if name == SHADOW_AGREEMENT:
                    shadow.agreement_sum += sample.value
    return {key: value for key, value in snapshot.items() if value.requests or value.buckets}


def merge_snapshots(snapshots: list[Snapshot]) -> Snapshot:
    """Several gateways' counters as one (each replica counts only what it served)."""
    total: Snapshot = defaultdict(VariantCounters)
    for snapshot in snapshots:
        for key, counters in snapshot.items():
            into = total[key]
            into.requests += counters.requests
            into.errors += counters.errors
            into.comparisons += counters.comparisons
            into.agreement_sum += counters.agreement_sum
            for le, count in counters.buckets.items():
                into.buckets[le] = into.buckets.get(le, 0.0) + count
    return dict(total)


def applied_rollouts(text: str) -> dict[str, float]:
    """``{model: updated_at}`` of the rollouts a gateway applies, from its Prometheus text."""
    return {
        sample.labels["model"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == UPDATED_AT
    }


def window(before: Snapshot, after: Snapshot, source: str, model: str, version: str) -> VariantWindow:
    """The variant's figures between two scrapes (a missing series counts as zero)."""
    old = before.get((source, model, version), VariantCounters())
    new = after.get((source, model, version), VariantCounters())
    buckets = {le: count - old.buckets.get(le, 0.0) for le, count in new.buckets.items()}
    comparisons = new.comparisons - old.comparisons
    agreement = (new.agreement_sum - old.agreement_sum) / comparisons if comparisons > 0 else None
    return VariantWindow(
        requests=round(new.requests - old.requests),
        errors=round(new.errors - old.errors),
        p50_s=quantile(0.5, buckets),
        p99_s=quantile(0.99, buckets),
        agreement=agreement,
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile(q)`` over cumulative ``{upper bound: count}`` (None: no observations)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            inside = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside if inside else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True)
class RoleVariant:
    """One variant a model's traffic can reach, the role it plays and where its figures are."""

    role: Literal["stable", "canary", "previous"]
    variant: Variant
    source: Literal["served", "shadow"]
    """``shadow``: the canary gets copies only; its figures are the shadow families."""


def variant_roles(configured_stable: Variant, rollout: Rollout | None) -> list[RoleVariant]:
    """Stable, then the canary (or shadow) and the previous stable when the rollout has them."""
    if rollout is None:
        return [RoleVariant("stable", configured_stable, "served")]
    roles = [RoleVariant("stable", rollout.stable, "served")]
    if rollout.canary is not None:
        roles.append(
            RoleVariant("canary", rollout.canary, "shadow" if rollout.mode == "shadow" else "served")
        )
    if rollout.previous is not None:
        roles.append(RoleVariant("previous", rollout.previous, "served"))
    return roles
