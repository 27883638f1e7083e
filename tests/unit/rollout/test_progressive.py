"""The progressive loop: judged per step window, rollback with the reason, baseline at 100 %."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from modelyard.errors import UsageError
from rollout.analysis import AnalysisPolicy
from rollout.progressive import MAX_WAITS, parse_duration, parse_steps, run_steps
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.rollout.figures import parse_snapshot
from serving.gateway.rollout.state import Rollout, RolloutSpec, Variant, build_rollout

STABLE = Variant(version="1", url="http://127.0.0.1:9001")
CANARY = Variant(version="2", url="http://127.0.0.1:9002")
POLICY = AnalysisPolicy(min_requests=20)


@dataclass
class ScriptedTraffic:
    """Stands in for the gateway admin API: each interval replays traffic into the gateway's
    real metrics registry as the current split would send it (``canary_error_at`` makes the
    canary fail from that percent on); ``snapshot`` scrapes it like the CLI does."""

    requests_per_interval: int = 200
    canary_error_at: int | None = None
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    percent: int = 0
    actions: list[str] = field(default_factory=list)

    def set_percent(self, model: str, percent: int, reason: str | None = None) -> Rollout:
        self.percent = percent
        self.actions.append(f"set {percent}")
        return build_rollout(model, RolloutSpec(canary=CANARY, percent=percent), STABLE, STABLE, [])

    def rollback(self, model: str, reason: str) -> Rollout:
        self.actions.append(f"rollback: {reason}")
        return build_rollout(model, RolloutSpec(phase="rolled_back", reason=reason), STABLE, STABLE, [])

    def snapshot(self):
        return parse_snapshot(self.metrics.exposition().decode())

    def wait(self, seconds: float) -> None:
        canary_share = self.requests_per_interval * self.percent // 100
        failing = self.canary_error_at is not None and self.percent >= self.canary_error_at
        for _ in range(canary_share):
            status = 500 if failing else 200
            self.metrics.observe("ranking", "2", status, 0.004, "upstream_error" if failing else None)
        for _ in range(self.requests_per_interval - canary_share):
            self.metrics.observe("ranking", "1", 200, 0.004, None)


def rollout() -> Rollout:
    return build_rollout("ranking", RolloutSpec(canary=CANARY, percent=10), STABLE, STABLE, [])


def test_all_steps_pass_including_100_percent_on_the_last_stable_baseline() -> None:
    traffic = ScriptedTraffic()
    outcome = run_steps(traffic, rollout(), [10, 50, 100], 1.0, POLICY, wait=traffic.wait)
    assert outcome.passed, outcome.reason
    assert traffic.actions == ["set 10", "set 50", "set 100"]
    assert outcome.steps[-1].stable.requests == 0  # judged against the 50 % step's stable window


def test_a_failing_step_rolls_back_and_names_the_check() -> None:
    traffic = ScriptedTraffic(canary_error_at=50)
    outcome = run_steps(traffic, rollout(), [10, 50, 100], 1.0, POLICY, wait=traffic.wait)
    assert not outcome.passed
    assert outcome.reason.startswith("step 50%: canary error rate 100.00%")
    assert traffic.actions[:2] == ["set 10", "set 50"]
    assert traffic.actions[2] == f"rollback: automatic rollback at {outcome.reason}"
    assert len(traffic.actions) == 3  # never reached 100 %


def test_too_little_traffic_waits_then_fails() -> None:
    traffic = ScriptedTraffic(requests_per_interval=50)  # 10 % of 50 = 5 canary requests
    outcome = run_steps(traffic, rollout(), [10], 1.0, POLICY, wait=traffic.wait)
    assert not outcome.passed and "fewer than 20" in outcome.reason
    assert len(outcome.steps) == MAX_WAITS + 1


def test_steps_and_durations_are_parsed_strictly() -> None:
    assert parse_steps("10,25,50,100") == [10, 25, 50, 100]
    assert parse_duration("30s") == 30 and parse_duration("2m") == 120 and parse_duration("500ms") == 0.5
    for bad in ("50,25", "0,10", "10,101", "ten"):
        with pytest.raises(UsageError):
            parse_steps(bad)
    with pytest.raises(UsageError):
        parse_duration("soon")
