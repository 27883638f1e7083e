"""Live traffic per model and variant for the console, from the gateway's own metrics.

The figures are those ``yard rollout status`` prints (``serving.gateway.rollout.figures``), over a
sliding window instead of since start: each read keeps a snapshot of the counters, and the next
reads difference against the oldest one still inside ``WINDOW_S``. The console polls every few
seconds, so after the first poll every figure is a recent rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from serving.gateway.rollout.figures import Snapshot, parse_snapshot, variant_roles, window
from serving.gateway.rollout.state import Variant
from serving.gateway.rollout.table import GatewayRollouts

WINDOW_S = 30.0
"""How far back rates, error rates and p99 look."""
_MIN_SPAN_S = 0.5
"""A baseline younger than this makes a rate of noise: use an older one, or none."""
_KEPT = 256
"""Snapshots kept at most (several tabs polling fast must not grow memory)."""


class TrafficView:
    """Reads the counters through ``exposition`` (the registry's Prometheus text)."""

    def __init__(
        self,
        rollouts: GatewayRollouts,
        exposition: Callable[[], bytes],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rollouts = rollouts
        self.exposition = exposition
        self.clock = clock
        self._history: deque[tuple[float, Snapshot]] = deque(maxlen=_KEPT)

    def report(self) -> dict[str, Any]:
        """Every routed model: its split, and per variant requests, rate, error rate and p99."""
        now = self.clock()
        current = parse_snapshot(self.exposition().decode())
        while self._history and self._history[0][0] < now - WINDOW_S:
            self._history.popleft()
        baseline = next(((at, snap) for at, snap in self._history if at <= now - _MIN_SPAN_S), None)
        self._history.append((now, current))
        span = None if baseline is None else now - baseline[0]
        before = {} if baseline is None else baseline[1]
        return {
            "window_s": None if span is None else round(span, 1),
            "models": [self._model(model, before, current, span) for model in self.rollouts.routes.models],
        }

    def _model(self, model: str, before: Snapshot, after: Snapshot, span: float | None) -> dict[str, Any]:
        configured = self.rollouts.routes.upstreams(model)[0]
        rollout = self.rollouts.rollouts.get(model)
        variants = []
        for entry in variant_roles(Variant(url=configured.url, version=configured.version), rollout):
            figures = window(before, after, entry.source, model, entry.variant.version)
            variants.append(
                {
                    "role": entry.role,
                    "version": entry.variant.version,
                    "source": entry.source,
                    "requests": figures.requests,
                    "rate_per_s": None if span is None else round(figures.requests / span, 2),
                    "error_rate": round(figures.error_rate, 4),
                    "p99_ms": None if figures.p99_s is None else round(figures.p99_s * 1000, 2),
                    "agreement": figures.agreement,
                }
            )
        return {
            "model": model,
            "mode": rollout.mode if rollout else None,
            "percent": rollout.percent if rollout else 0,
            "phase": rollout.phase if rollout else None,
            "variants": variants,
        }
