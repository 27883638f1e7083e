"""Progressive rollout: raise the canary step by step, judge each step, roll back on failure.

Each step is judged on the figures of its own window (two scrapes apart). At 100 % stable
gets no traffic, so the last stable window with enough requests stays the baseline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from modelyard.errors import UsageError
from rollout.analysis import AnalysisPolicy, Verdict, analyse
from serving.gateway.rollout.figures import Snapshot, VariantWindow, window
from serving.gateway.rollout.state import Rollout

MAX_WAITS = 3
"""Extra intervals a step may wait for enough canary requests before it counts as failed."""
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_steps(text: str) -> list[int]:
    """``10,25,50,100`` -> increasing percents, each 1..100."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"bad --steps {text!r}", hint="write percents like 10,25,50,100") from None
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise UsageError(
            f"bad --steps {text!r}", hint="increasing percents between 1 and 100, e.g. 10,25,50,100"
        )
    return steps


def parse_duration(text: str) -> float:
    """``30s``, ``2m``, ``500ms`` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"bad duration {text!r}", hint="write e.g. 30s, 2m or 500ms")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class ProgressiveTarget(Protocol):
    def set_percent(self, model: str, percent: int, reason: str | None = None) -> Rollout: ...
    def rollback(self, model: str, reason: str) -> Rollout: ...
    def snapshot(self) -> Snapshot: ...


@dataclass(frozen=True)
class StepReport:
    percent: int
    stable: VariantWindow
    canary: VariantWindow
    verdict: Verdict


@dataclass
class Outcome:
    passed: bool
    reason: str
    steps: list[StepReport] = field(default_factory=list)


def run_steps(
    target: ProgressiveTarget,
    rollout: Rollout,
    steps: list[int],
    interval_s: float,
    policy: AnalysisPolicy,
    on_step: Callable[[StepReport], None] = lambda report: None,
    wait: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Walk ``steps``; the first failed step rolls back (the reason is kept in the rollout)."""
    if rollout.canary is None:
        raise UsageError(f"{rollout.model} has no canary", hint="yard rollout start")
    model, stable, canary = rollout.model, rollout.stable.version, rollout.canary.version
    canary_source = "shadow" if rollout.mode == "shadow" else "served"
    outcome = Outcome(passed=False, reason="")
    baseline: VariantWindow | None = None
    for percent in steps:
        target.set_percent(model, percent, reason=f"step {percent}%")
        for _ in range(MAX_WAITS + 1):
            before = target.snapshot()
            wait(interval_s)
            after = target.snapshot()
            stable_window = window(before, after, "served", model, stable)
            if stable_window.requests >= policy.min_requests:
                baseline = stable_window
            canary_window = window(before, after, canary_source, model, canary)
            verdict = analyse(baseline or stable_window, canary_window, policy)
            report = StepReport(percent, stable_window, canary_window, verdict)
            outcome.steps.append(report)
            on_step(report)
            if report.verdict.decision != "wait":
                break
        if report.verdict.decision != "pass":
            outcome.reason = f"step {percent}%: {report.verdict.summary}"
            target.rollback(model, reason=f"automatic rollback at {outcome.reason}")
            return outcome
    outcome.passed, outcome.reason = True, f"all steps passed ({', '.join(f'{s}%' for s in steps)})"
    return outcome
