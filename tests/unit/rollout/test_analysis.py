"""Step verdicts: error rate, p99, minimum traffic, shadow agreement."""

from __future__ import annotations

from rollout.analysis import AnalysisPolicy, analyse
from serving.gateway.rollout.figures import VariantWindow

POLICY = AnalysisPolicy(error_rate_margin=0.01, p99_margin=0.25, min_requests=50)
STABLE = VariantWindow(requests=1000, errors=5, p50_s=0.010, p99_s=0.040)


def canary(requests: int = 200, errors: int = 1, p99_s: float = 0.045, agreement: float | None = None):
    return VariantWindow(requests=requests, errors=errors, p50_s=0.01, p99_s=p99_s, agreement=agreement)


def test_a_healthy_canary_passes_with_its_figures_named() -> None:
    verdict = analyse(STABLE, canary(), POLICY)
    assert verdict.decision == "pass"
    assert "error rate" in verdict.summary and "p99" in verdict.summary


def test_too_many_errors_fail_even_when_latency_is_fine() -> None:
    verdict = analyse(STABLE, canary(errors=10), POLICY)  # 5% vs 0.5% + 1 point
    assert verdict.decision == "fail"
    assert "error rate 5.00%" in verdict.summary and "p99" not in verdict.summary


def test_error_rate_exactly_at_the_margin_passes() -> None:
    assert analyse(STABLE, canary(requests=200, errors=3), POLICY).decision == "pass"  # 1.5% == 0.5% + 1


def test_a_slow_canary_fails_on_p99() -> None:
    verdict = analyse(STABLE, canary(p99_s=0.051), POLICY)  # > 40 ms x 1.25
    assert verdict.decision == "fail" and "p99 51.0 ms" in verdict.summary


def test_both_failures_are_reported() -> None:
    assert len(analyse(STABLE, canary(errors=50, p99_s=1.0), POLICY).reasons) == 2


def test_too_little_traffic_waits() -> None:
    verdict = analyse(STABLE, canary(requests=49, errors=49), POLICY)
    assert verdict.decision == "wait" and "49 requests" in verdict.summary


def test_a_fast_stable_gets_a_latency_floor() -> None:
    fast = VariantWindow(requests=1000, errors=0, p50_s=0.0005, p99_s=0.001)
    assert analyse(fast, canary(errors=0, p99_s=0.006), POLICY).decision == "pass"  # < 5 ms x 1.25
    assert analyse(fast, canary(errors=0, p99_s=0.007), POLICY).decision == "fail"


def test_shadow_agreement_is_checked_only_when_asked() -> None:
    strict = AnalysisPolicy(min_agreement=0.9)
    assert analyse(STABLE, canary(agreement=0.8), POLICY).decision == "pass"
    verdict = analyse(STABLE, canary(agreement=0.8), strict)
    assert verdict.decision == "fail" and "agreement 80.0%" in verdict.summary
