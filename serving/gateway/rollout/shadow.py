"""Shadow mirroring: a copy of a request goes to the candidate after the caller has its answer.

The copy runs as a background task with its own connection pool and a cap on copies in
flight: when the candidate is slow, copies are dropped (and counted), never queued, so the
caller's latency and answer do not depend on the candidate at all.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from modelyard.logs import event
from serving.gateway.proxy import upstream_session
from serving.gateway.rollout.compare import compare_answers

from .metrics import RolloutMetrics

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32


class ShadowMirror:
    def __init__(self, metrics: RolloutMetrics, timeout_s: float, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(
        self,
        model: str,
        version: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        stable_answer: bytes,
    ) -> None:
        """Start the copy in the background (or drop it when the cap is reached)."""
        if len(self._tasks) >= self.max_in_flight:
            self.metrics.shadow_dropped.labels(model, version).inc()
            return
        task = asyncio.get_running_loop().create_task(
            self._mirror(model, version, url, headers, body, stable_answer)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mirror(
        self,
        model: str,
        version: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        stable_answer: bytes,
    ) -> None:
        started = time.perf_counter()
        if self._session is None:
            self._session = upstream_session(self.timeout_s, self.max_in_flight)
        try:
            async with self._session.post(url, data=body, headers=headers) as answer:
                content = await answer.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.metrics.shadow_requests.labels(model, version, "unavailable").inc()
            event(
                log,
                "shadow_unavailable",
                logging.WARNING,
                model=model,
                version=version,
                error=type(exc).__name__,
            )
            return
        self.metrics.shadow_latency.labels(model, version).observe(time.perf_counter() - started)
        if answer.status >= 500:
            self.metrics.shadow_requests.labels(model, version, "error").inc()
            return
        self.metrics.shadow_requests.labels(model, version, "ok").inc()
        comparison = compare_answers(stable_answer, content)
        if comparison is None:
            return
        self.metrics.comparisons.labels(model, version).inc()
        self.metrics.agreement.labels(model, version).inc(comparison.agreement)
        if comparison.score_delta is not None:
            self.metrics.score_delta.labels(model, version).observe(comparison.score_delta)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
