"""Soak: the whole local stack under steady concurrent load for minutes, latency and memory over time.

Every workload of the serving benchmark (``bench.serving_workloads``), interleaved, through the
gateway at a fixed concurrency; the run is cut into windows (p50, p99, throughput, errors) while
the resident memory of every process under the supervisor is sampled. The first windows are the
warm-up; after it, p99 should stay flat and memory should not grow (a leak shows as growth).

``measure_soak`` is the one measurement, shared with tests/integration/test_soak.py (which asserts
on it); ``benchmark`` is the registry entry (``python -m bench --only soak``).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.load import LoadResult, Request, run_load
from bench.schema import add_bar_chart, add_ratio, add_table, new_result, skipped
from bench.stack_bench import tree_rss
from modelyard.settings import Settings
from serving.stack.state import StackState

NAME = "soak"
TITLE = "Soak: steady load on the whole stack, latency and memory over time"
CONCURRENCY = 8
SECONDS = {True: 60.0, False: 600.0}
WINDOW_S = {True: 10.0, False: 30.0}
WARMUP_WINDOWS = {True: 1, False: 2}
RSS_INTERVAL_S = 2.0
MIB = 2**20

console = Console(stderr=True)


@dataclass(frozen=True)
class SoakWindow:
    """One stretch of the run: its answers and the stack's memory meanwhile."""

    start_s: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    rps: float
    rss_mib: float | None
    """Median of the samples taken in the window (None: no sample fell in it)."""


@dataclass(frozen=True)
class Soak:
    """A whole soak run: every window, the warm-up ones first."""

    concurrency: int
    window_s: float
    warmup_windows: int
    requests: int
    errors: int
    windows: list[SoakWindow]
    failures: dict[str, int]

    @property
    def measured(self) -> list[SoakWindow]:
        """The windows after the warm-up."""
        return self.windows[self.warmup_windows :]

    @property
    def p99_drift(self) -> float:
        """p99 of the last window over p99 of the first one after the warm-up (1.0: stable)."""
        first, last = self.measured[0], self.measured[-1]
        return last.p99_ms / first.p99_ms

    @property
    def rss_growth(self) -> float:
        """Relative growth of the stack's resident memory from after the warm-up to the end."""
        first, last = self.measured[0].rss_mib, self.measured[-1].rss_mib
        if first is None or last is None:
            raise ValueError("no memory sample in the first or last measured window: sample more often")
        return last / first - 1.0


def summarize(
    load: LoadResult, rss: Sequence[tuple[float, int]], window_s: float, warmup_windows: int
) -> Soak:
    """Cut ``load`` into windows of ``window_s`` and give each the median of the RSS samples
    (seconds since the start, bytes) taken in it."""
    windows = []
    for index, part in enumerate(load.windows(window_s)):
        start = index * window_s
        summary = part.summary()
        in_window = [size for at, size in rss if start <= at < start + window_s]
        windows.append(
            SoakWindow(
                start_s=start,
                requests=part.requests,
                errors=part.errors,
                p50_ms=summary["p50_ms"],
                p99_ms=summary["p99_ms"],
                rps=summary["rps"],
                rss_mib=round(statistics.median(in_window) / MIB, 1) if in_window else None,
            )
        )
    if len(windows) <= warmup_windows + 1:
        raise ValueError(
            f"{len(windows)} windows of {window_s} s: too short a run for {warmup_windows} warm-up"
        )
    return Soak(
        load.concurrency, window_s, warmup_windows, load.requests, load.errors, windows, dict(load.failures)
    )


def measure_soak(
    base_url: str,
    make_request: Callable[[int], Request],
    headers: Mapping[str, str],
    supervisor_pid: int,
    *,
    seconds: float,
    window_s: float,
    warmup_windows: int,
    concurrency: int = CONCURRENCY,
) -> Soak:
    """Closed-loop load for ``seconds`` while a thread samples the RSS of the supervisor's process tree
    every ``RSS_INTERVAL_S`` (its clock starts with the load's, give or take the client's setup)."""
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        started = time.perf_counter()
        while True:
            samples.append((time.perf_counter() - started, tree_rss(supervisor_pid)))
            if done.wait(RSS_INTERVAL_S):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        load = run_load(base_url, make_request, concurrency, duration_s=seconds, headers=headers)
    finally:
        done.set()
        sampler.join()
    return summarize(load, samples, window_s, warmup_windows)


def mixed_requests(settings: Settings, stack: StackState) -> Callable[[int], Request]:
    """Request ``i`` of the soak: the serving benchmark's workloads of every served model in turn,
    built from the files the stack serves."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from bench.serving_workloads import BUILDERS
    from serving.transformer.version import read_version_state

    workloads = [
        build(read_version_state(name, model.version, Path(model.artifact_dir)), settings)
        for name, model in stack.models.items()
        for build in BUILDERS[name]
    ]
    return lambda index: workloads[index % len(workloads)].request(index // len(workloads))


def window_table(soak: Soak) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the per-window table (the report's and the soak test's printout)."""
    columns = ["window", "start s", "requests", "errors", "p50 ms", "p99 ms", "req/s", "stack RSS MiB"]
    rows = [
        [
            "warm-up" if index < soak.warmup_windows else index - soak.warmup_windows + 1,
            w.start_s,
            w.requests,
            w.errors,
            w.p50_ms,
            w.p99_ms,
            w.rps,
            w.rss_mib,
        ]
        for index, w in enumerate(soak.windows)
    ]
    return columns, rows


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry; ``skipped`` (with the reason) when the stack cannot run here."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from bench.stack_setup import detached_stack, ensure_champions, ensure_index, unavailable_reason
    from bench.state import bench_settings
    from serving.stack.client import read_api_key
    from serving.transformer.version import resolve_version_state

    reason = unavailable_reason()
    if reason:
        return skipped(NAME, TITLE, reason)
    settings = bench_settings()
    for model in ensure_champions(settings):
        if model in ("visual-search", "ranking"):
            ensure_index(settings, resolve_version_state(settings, model, alias="champion"))
    with detached_stack(settings, auth=True, label="soak benchmark") as started:
        state = started.state
        make_request = mixed_requests(settings, state)
        with console.status(f"soak: {SECONDS[quick]:.0f} s at concurrency {CONCURRENCY}"):
            soak = measure_soak(
                state.gateway_url,
                make_request,
                {"x-api-key": read_api_key(settings) or ""},
                state.supervisor_pid,
                seconds=SECONDS[quick],
                window_s=WINDOW_S[quick],
                warmup_windows=WARMUP_WINDOWS[quick],
            )
    console.print(f"soak: {soak.requests} requests, {soak.errors} errors, p99 drift {soak.p99_drift:.2f}")
    return as_result(soak, sorted(state.models), SECONDS[quick])


def as_result(soak: Soak, models: list[str], seconds: float) -> dict[str, Any]:
    result = new_result(
        NAME,
        TITLE,
        f"`yard serve --detach` on the benchmark state dir serving {', '.join(models)}; {seconds:.0f} s of "
        f"closed-loop load at concurrency {soak.concurrency} through the gateway, cycling through every "
        "workload of the serving benchmark (one request each in turn). The run is cut into "
        f"{soak.window_s:.0f} s windows, the first {soak.warmup_windows} being the warm-up. *Stack RSS* is "
        f"the median, per window, of psutil readings every {RSS_INTERVAL_S:.0f} s of every process under "
        "the supervisor (pages shared between processes count once per process). Targets: 0 errors, p99 "
        "stable, RSS growth under 10 % after the warm-up.",
    )
    columns, rows = window_table(soak)
    add_table(result, "Per window", columns, rows)
    add_table(
        result,
        "Soak verdict figures",
        ["requests", "errors", "p99 first / last window ms", "RSS first / last window MiB", "RSS growth"],
        [
            [
                soak.requests,
                soak.errors,
                f"{soak.measured[0].p99_ms} / {soak.measured[-1].p99_ms}",
                f"{soak.measured[0].rss_mib} / {soak.measured[-1].rss_mib}",
                f"{soak.rss_growth:+.1%}",
            ]
        ],
        note="first and last windows after the warm-up",
    )
    add_ratio(
        result, "p99 last / first window", soak.measured[-1].p99_ms, soak.measured[0].p99_ms, "1.0: stable"
    )
    add_ratio(
        result,
        "RSS last / first window",
        soak.measured[-1].rss_mib or 0.0,
        soak.measured[0].rss_mib or 0.0,
        "whole-stack memory after the warm-up; 1.10 would be the 10 % limit",
    )
    labels = [f"{w.start_s:.0f}s" for w in soak.windows]
    add_bar_chart(
        result,
        "latency per window (ms)",
        "ms",
        labels,
        {"p50": [w.p50_ms for w in soak.windows], "p99": [w.p99_ms for w in soak.windows]},
    )
    add_bar_chart(
        result, "stack RSS per window (MiB)", "MiB", labels, {"RSS": [w.rss_mib for w in soak.windows]}
    )
    result["data"] = {"soak": asdict(soak)}
    return result
