"""The verdict on one rollout step: is the candidate at least as good as stable?

Pure: it sees two windows of figures and a policy, so every decision is unit tested and
the reason a rollout was stopped can be printed word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from serving.gateway.rollout.figures import VariantWindow

Decision = Literal["pass", "fail", "wait"]


@dataclass(frozen=True)
class AnalysisPolicy:
    error_rate_margin: float = 0.01
    """Canary error rate may exceed stable's by at most this (absolute, 0.01 = 1 point)."""
    p99_margin: float = 0.25
    """Canary p99 may be at most stable p99 x (1 + margin)."""
    min_requests: int = 50
    """Fewer canary requests than this in a step: not enough evidence yet."""
    min_agreement: float | None = None
    """Shadow only: lowest acceptable mean agreement with the stable answer."""
    p99_floor_s: float = 0.005
    """Stable p99 below this is treated as this: on a fast model, 1 ms of jitter is not a regression."""


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...]

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def analyse(stable: VariantWindow, canary: VariantWindow, policy: AnalysisPolicy) -> Verdict:
    """``fail`` when any check fails, ``wait`` when the canary saw too little traffic, else ``pass``."""
    if canary.requests < policy.min_requests:
        return Verdict(
            "wait", (f"canary served {canary.requests} requests, fewer than {policy.min_requests}",)
        )
    failures, passes = [], []
    allowed_errors = stable.error_rate + policy.error_rate_margin
    errors = f"canary error rate {canary.error_rate:.2%} vs stable {stable.error_rate:.2%}"
    if canary.error_rate > allowed_errors:
        failures.append(f"{errors} (> {allowed_errors:.2%} allowed)")
    else:
        passes.append(errors)
    if canary.p99_s is not None and stable.p99_s is not None:
        allowed_p99 = max(stable.p99_s, policy.p99_floor_s) * (1 + policy.p99_margin)
        latency = f"canary p99 {canary.p99_s * 1000:.1f} ms vs stable {stable.p99_s * 1000:.1f} ms"
        if canary.p99_s > allowed_p99:
            failures.append(f"{latency} (> {allowed_p99 * 1000:.1f} ms allowed)")
        else:
            passes.append(latency)
    if policy.min_agreement is not None and canary.agreement is not None:
        agreement = f"shadow agreement {canary.agreement:.1%}"
        if canary.agreement < policy.min_agreement:
            failures.append(f"{agreement} (< {policy.min_agreement:.1%} required)")
        else:
            passes.append(agreement)
    return Verdict("fail", tuple(failures)) if failures else Verdict("pass", tuple(passes))
