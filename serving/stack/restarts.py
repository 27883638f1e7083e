"""When to restart a crashed child: exponential backoff, and a cap on crashes in a window.

Pure (time is passed in), so the policy is tested without processes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """``max_restarts`` crashes within ``window_s`` means the child is broken: stop trying."""

    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 300.0

    def delay(self, recent_crashes: int) -> float:
        """Backoff before restart number ``recent_crashes`` (1-based): 1 s, 2 s, 4 s ... capped."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** max(0, recent_crashes - 1))


@dataclass
class RestartBudget:
    """Crash history of one child under a policy."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    crashes: deque[float] = field(default_factory=deque)

    def on_crash(self, now: float) -> float | None:
        """Record a crash at ``now``; the delay before restarting, or None to give up."""
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.policy.window_s:
            self.crashes.popleft()
        if len(self.crashes) > self.policy.max_restarts:
            return None
        return self.policy.delay(len(self.crashes))
