"""Closed-loop HTTP load on loopback: ``concurrency`` callers, each sending its next request as soon as
the previous answer arrives, for a duration or a request count. Every answer is recorded.

One load generator for the serving benchmark, the soak benchmark and the soak test, so their
figures are measured the same way::

    result = run_load(url, lambda i: Request("POST", "/v1/models/moderation:predict", json=body),
                      concurrency=8, duration_s=30, headers={"x-api-key": key})
    result.summary()  # {"requests": ..., "errors": ..., "p50_ms": ..., "p99_ms": ..., "rps": ...}

The caller runs in the benchmark's own process: on a 2-core machine the client's CPU competes with
the servers'. It uses aiohttp and orjson, about a fifth of httpx's CPU per request, so that the
client is not what a throughput figure measures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import orjson

TRANSPORT_ERROR = 0
"""Status recorded for a request that got no HTTP answer (refused, reset, timed out)."""


@dataclass(frozen=True)
class Request:
    """One HTTP call: what ``make_request(i)`` returns for the i-th request of a run."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    """Every answer of a run: start offset (s from the run's start), latency (ms), status."""

    concurrency: int
    started: np.ndarray
    latency_ms: np.ndarray
    status: np.ndarray
    elapsed_s: float
    failures: Counter = field(default_factory=Counter)
    """``"<status>: <first 200 chars of body or exception>"`` -> count, for error messages."""

    @property
    def requests(self) -> int:
        return len(self.status)

    @property
    def errors(self) -> int:
        return int(np.count_nonzero((self.status < 200) | (self.status >= 400)))

    def summary(self) -> dict[str, float]:
        """Counts, latency percentiles (ms) and throughput (answers per second) of the run."""
        latency = self.latency_ms if self.requests else np.zeros(1)
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(float(np.percentile(latency, 50)), 3),
            "p99_ms": round(float(np.percentile(latency, 99)), 3),
            "mean_ms": round(float(latency.mean()), 3),
            "rps": round(self.requests / self.elapsed_s, 2) if self.elapsed_s else 0.0,
        }

    def windows(self, seconds: float) -> list[LoadResult]:
        """The run cut into consecutive windows of ``seconds`` (by request start), e.g. to see whether
        p99 drifts during a soak. A trailing partial window is dropped."""
        count = int(self.elapsed_s // seconds)
        parts = []
        for index in range(count):
            mask = (self.started >= index * seconds) & (self.started < (index + 1) * seconds)
            parts.append(
                LoadResult(
                    self.concurrency, self.started[mask], self.latency_ms[mask], self.status[mask], seconds
                )
            )
        return parts


def run_load(
    base_url: str,
    make_request: Callable[[int], Request],
    concurrency: int,
    *,
    duration_s: float | None = None,
    total: int | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    warmup: int = 0,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Run the load until ``duration_s`` has passed, ``total`` requests were answered or ``stop`` is set
    (from another thread: load in the background while a test acts). ``warmup`` requests go first, one
    caller at a time, and are not recorded."""
    if duration_s is None and total is None and stop is None:
        raise ValueError("run_load needs duration_s, total or stop")

    async def main() -> LoadResult:
        client = aiohttp.ClientSession(  # created in the loop: a session belongs to the loop it starts in
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            connector=aiohttp.TCPConnector(limit=concurrency),
        )
        return await _run(client, make_request, concurrency, duration_s, total, warmup, stop)

    return asyncio.run(main())


async def _run(
    client: aiohttp.ClientSession,
    make_request: Callable[[int], Request],
    concurrency: int,
    duration_s: float | None,
    total: int | None,
    warmup: int,
    stop: threading.Event | None,
) -> LoadResult:
    async with client:
        for index in range(warmup):
            await _send(client, make_request(index))
        records: list[tuple[float, float, int]] = []
        failures: Counter = Counter()
        issued = 0
        start = time.perf_counter()
        deadline = start + duration_s if duration_s is not None else float("inf")

        async def caller() -> None:
            nonlocal issued
            while (
                time.perf_counter() < deadline
                and (total is None or issued < total)
                and not (stop is not None and stop.is_set())
            ):
                index = issued
                issued += 1
                sent = time.perf_counter()
                status, failure = await _send(client, make_request(index))
                records.append((sent - start, (time.perf_counter() - sent) * 1000.0, status))
                if failure:
                    failures[failure] += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    table = np.array(records, dtype=np.float64).reshape(-1, 3)
    return LoadResult(concurrency, table[:, 0], table[:, 1], table[:, 2].astype(np.int64), elapsed, failures)


async def _send(client: aiohttp.ClientSession, request: Request) -> tuple[int, str | None]:
    """(status, failure description or None); a transport error is status 0, never an exception."""
    headers = dict(request.headers)
    body = request.content
    if request.json is not None:
        body = orjson.dumps(request.json, option=orjson.OPT_SERIALIZE_NUMPY)
        headers.setdefault("content-type", "application/json")
    try:
        async with client.request(request.method, request.path, data=body, headers=headers) as answer:
            content = await answer.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        return TRANSPORT_ERROR, f"{TRANSPORT_ERROR}: {type(exc).__name__}: {exc}"[:240]
    if answer.status >= 400:
        return answer.status, f"{answer.status}: {content[:200].decode(errors='replace')}"
    return answer.status, None
