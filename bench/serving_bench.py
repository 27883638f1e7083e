"""Serving latency and throughput: the whole stack vs a plain KServe server vs the bare model.

A run, one step after the other (nothing else of ours competes for the 2 cores during a
measurement):

1. setup, not timed: smoke champions where missing (``bench.stack_setup``), and the champions'
   indexes built with ``yard index`` where absent: visual-search over the whole catalogue, ranking's
   items;
2. the floor: each workload's TorchScript calls, in this process, one request after another;
3. the whole stack (``yard serve --detach``, its cold start reported; its payload log on, as by
   default) and, beside it, each model's plain-KServe server (``bench/plain_kserve.py``, on a copy
   of the embedded Qdrant store: a collection admits one process; its payload log off) and a second
   one with the payload log on (its own store copy): every workload at each concurrency alternates
   between the gateway and the plain server in rounds, the logging plain server joining at
   ``THROUGHPUT_AT`` (with more rounds there, the order reversed every round so the two plain
   servers always run back to back), since this shared machine's speed drifts over minutes (two
   runs done one path after the other gave ratios 2x apart); memory read after the load; all
   stopped.

Verdicts and the result document: ``bench.serving_report``.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil
from rich.console import Console

from bench.load import LoadResult, run_load
from bench.schema import latency_summary
from bench.serving_report import (
    CONCURRENCY,
    LOGGED,
    MIB,
    NAME,
    PLAIN,
    ROUNDS,
    STACK,
    THROUGHPUT_AT,
    THROUGHPUT_ROUNDS,
    TITLE,
    Measurements,
    Run,
    as_result,
)
from bench.serving_workloads import BUILDERS, Workload
from bench.stack_setup import detached_stack, ensure_index, stack_benchmark
from bench.torchscript import TorchScriptModels
from modelyard.payloads import FLUSH_S
from modelyard.settings import Settings
from serving.transformer.version import VersionState, resolve_version_state

if TYPE_CHECKING:
    from serving.stack.processes import Child

INDEXED = ("visual-search", "ranking")
"""The models whose transformers search Qdrant."""
STACK_REPLICAS = {"moderation": 2}
"""Transformer processes of the benchmark's stack (``MODELYARD_TRANSFORMER_REPLICAS``): moderation's
transformer is CPU-bound Python (tokenising raw emails) and one process holds one core; the
searching models stay at one (the embedded Qdrant collection admits one process)."""
ROUND_SECONDS = {True: 1.0, False: 5.0}
"""Load per round of one (path, workload, concurrency): quick, full."""
WARMUP = {True: 10, False: 25}
"""Requests before each round, one at a time, not recorded."""
FLOOR_REQUESTS = {True: 300, False: 3000}
FLOOR_WARMUP = 20
LOAD_GENERATOR = "load generator"
"""This process alone (not its children: the plain-KServe server is one), in the CPU accounting."""
FLUSH_WAIT_S = FLUSH_S + 0.2
"""After a round of the logging server, before its CPU is read and the next round starts: its writer
encodes the round's last rows (at most ``FLUSH_S`` old) then, so their CPU counts for the logging
server and does not slow the next path's round. Its files rotate as by default (a minute): each
second's rows are encoded into the open file as they come, so only the footer and rename of a
finished file can fall between rounds."""
RUN_DIR = "serving-bench"
"""Under the benchmark state dir: the plain-KServe servers' logs."""

console = Console(stderr=True)


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry; ``skipped`` (with the reason) when the stack cannot run here."""
    return stack_benchmark(NAME, TITLE, lambda settings, models: measure(settings, models, quick))


def measure(settings: Settings, models: list[str], quick: bool) -> dict[str, Any]:
    states = {model: resolve_version_state(settings, model, alias="champion") for model in models}
    index_points = {model: ensure_index(settings, states[model]) for model in INDEXED}
    workloads = [build(states[model], settings) for model in models for build in BUILDERS[model]]
    floor = measure_floor(states, workloads, FLOOR_REQUESTS[quick])
    runs, stack, not_served, plain_rss = measure_paths(settings, states, workloads, quick)
    return as_result(
        Measurements(
            quick=quick,
            workloads={w.name: w.label for w in workloads},
            versions={model: state.version for model, state in states.items()},
            floor=floor,
            runs=runs,
            stack=stack,
            plain_rss_mib=plain_rss,
            index_points=index_points,
            catalogue_points=catalogue_points(settings),
            not_served=not_served,
        )
    )


def catalogue_points(settings: Settings) -> int:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from modelyard.data import load

    fashion = load("fashion-mnist", settings)
    return len(fashion.train_labels) + len(fashion.test_labels)


def measure_floor(
    states: dict[str, VersionState], workloads: list[Workload], requests: int
) -> dict[str, dict[str, float]]:
    """Per workload: p50/p99 of one request's TorchScript calls, and requests per second back to back."""
    models = {model: TorchScriptModels(state) for model, state in states.items()}
    floor = {}
    for workload in workloads:
        torch_models = models[workload.model]
        milliseconds = []
        for index in range(FLOOR_WARMUP + requests):
            calls = workload.floor_calls[index % len(workload.floor_calls)]
            started = time.perf_counter()
            for model, inputs in calls:
                torch_models.forward(model, inputs)
            if index >= FLOOR_WARMUP:
                milliseconds.append((time.perf_counter() - started) * 1000)
        summary = latency_summary(milliseconds)
        floor[workload.name] = {
            "requests": summary["n"],
            "p50_ms": summary["median_ms"],
            "p99_ms": summary["p99_ms"],
            "rps": round(1000 / summary["mean_ms"], 2),
        }
        console.print(f"floor {workload.name}: p50 {summary['median_ms']} ms, p99 {summary['p99_ms']} ms")
    return floor


@dataclass(frozen=True)
class Target:
    """A path under load: where requests go and which processes' CPU counts for it."""

    path: str
    url: str
    headers: dict[str, str]
    processes: dict[str, int]


def measure_paths(
    settings: Settings, states: dict[str, VersionState], workloads: list[Workload], quick: bool
) -> tuple[list[Run], dict[str, Any], dict[str, str], dict[str, float]]:
    """The whole stack and every model's plain-KServe server up side by side, and each workload's load
    alternating between them (``ROUNDS``); then the stack's cold start and memory, the plain servers'
    memory, and the models the stack left out."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from bench.plain_kserve import plain_server
    from bench.stack_bench import stack_memory, tree_rss
    from serving.stack.client import read_api_key
    from serving.stack.plan import child_environment, torch_threads_environment

    replicated = settings.model_copy(update={"transformer_replicas": STACK_REPLICAS})
    run_dir = settings.state_dir / RUN_DIR
    plain_env = {
        **child_environment(settings),
        **torch_threads_environment(settings),
        "MODELYARD_QDRANT_PATH": str(_store_copy(settings, "qdrant")),
        "MODELYARD_PAYLOAD_SAMPLE_RATE": "0",
    }
    logged_env = {
        **plain_env,
        "MODELYARD_QDRANT_PATH": str(_store_copy(settings, "qdrant-logged")),
        "MODELYARD_PAYLOAD_SAMPLE_RATE": "1",
        "MODELYARD_PAYLOAD_DIR": str(run_dir / "payloads"),
    }
    with (
        detached_stack(replicated, auth=True, label="serving benchmark: the whole stack") as started,
        ExitStack() as plain_servers,
    ):
        state = started.state
        _check_versions(state.models, states)
        served = [model for model in states if model in state.models]
        plain = {
            model: plain_servers.enter_context(plain_server(states[model], plain_env, run_dir))
            for model in served
        }
        logged = {
            model: plain_servers.enter_context(
                plain_server(states[model], logged_env, run_dir, name="plain-kserve-logged")
            )
            for model in served
        }
        stack_target = Target(
            STACK,
            state.gateway_url,
            {"x-api-key": read_api_key(settings) or ""},
            {name: child.pid for name, child in state.children.items() if child.pid},
        )
        runs = [
            run
            for workload in workloads
            if workload.model in plain
            for concurrency in CONCURRENCY
            for run in paired_runs(
                [
                    stack_target,
                    _plain_target(PLAIN, plain[workload.model]),
                    *(
                        [_plain_target(LOGGED, logged[workload.model])]
                        if concurrency == THROUGHPUT_AT
                        else []
                    ),
                ],
                workload,
                concurrency,
                quick,
            )
        ]
        memory = stack_memory(
            state.supervisor_pid, {name: child.pid for name, child in state.children.items()}
        )
        plain_rss = {model: round(tree_rss(child.pid or 0) / MIB, 1) for model, child in plain.items()}
    stack = {
        "wall_seconds": started.wall_seconds,
        "ready_seconds": state.ready_seconds,
        "memory": memory,
        "transformer_replicas": STACK_REPLICAS,
    }
    return runs, stack, dict(state.skipped), plain_rss


def _plain_target(path: str, server: Child) -> Target:
    return Target(path, server.spec.url, {}, {"server": server.pid or 0})


def _check_versions(served: dict[str, Any], states: dict[str, VersionState]) -> None:
    for name, model in served.items():
        if model.version != states[name].version:
            raise RuntimeError(
                f"the stack serves {name} v{model.version}, not the v{states[name].version} "
                "this benchmark resolved (was the champion moved meanwhile?)"
            )


def _store_copy(settings: Settings, name: str) -> Path:
    """A copy of the embedded Qdrant store for one set of plain servers: a collection admits one
    process, and the stack's transformers hold the originals while every path is up."""
    copy = settings.state_dir / RUN_DIR / name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(settings.qdrant_path, copy)
    return copy


def paired_runs(targets: list[Target], workload: Workload, concurrency: int, quick: bool) -> list[Run]:
    """One run per target, its load split into rounds that alternate between the targets (in
    reverse order every other round), so a change in the shared machine's speed meets every path
    alike; each round's req/s, and the CPU each target's processes (and the load generator, this
    process) spent per answered request."""
    rounds = THROUGHPUT_ROUNDS[quick] if concurrency == THROUGHPUT_AT else ROUNDS
    results: dict[str, list[LoadResult]] = {target.path: [] for target in targets}
    cpu_s: dict[str, Counter[str]] = {target.path: Counter() for target in targets}
    for round_index in range(rounds):
        for target in targets if round_index % 2 == 0 else targets[::-1]:
            before = _cpu_seconds(target.processes)
            results[target.path].append(
                run_load(
                    target.url,
                    workload.request,
                    concurrency,
                    duration_s=ROUND_SECONDS[quick],
                    headers=target.headers,
                    warmup=WARMUP[quick],
                )
            )
            if target.path == LOGGED:
                time.sleep(FLUSH_WAIT_S)
            after = _cpu_seconds(target.processes)
            cpu_s[target.path].update({name: after[name] - before[name] for name in after})
    runs = []
    for target in targets:
        result = merged(results[target.path])
        answered = result.requests + WARMUP[quick] * rounds  # warmups ran inside the CPU intervals
        cpu_ms = {name: round(seconds * 1000 / answered, 3) for name, seconds in cpu_s[target.path].items()}
        summary = result.summary()
        console.print(
            f"{target.path} {workload.name} c={concurrency}: p50 {summary['p50_ms']} ms, "
            f"p99 {summary['p99_ms']} ms, {summary['rps']} req/s, {summary['errors']} errors, "
            f"CPU {sum(cpu_ms.values()):.2f} ms/request"
        )
        runs.append(
            Run(
                target.path,
                workload.name,
                concurrency,
                summary,
                dict(result.failures.most_common(5)),
                cpu_ms,
                [part.summary()["rps"] for part in results[target.path]],
            )
        )
    return runs


def merged(parts: list[LoadResult]) -> LoadResult:
    """Rounds of one target as one result: every answer, the rounds' time added up."""
    return LoadResult(
        parts[0].concurrency,
        np.concatenate([part.started for part in parts]),
        np.concatenate([part.latency_ms for part in parts]),
        np.concatenate([part.status for part in parts]),
        sum(part.elapsed_s for part in parts),
        sum((part.failures for part in parts), Counter()),
    )


def _cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each server's process tree, and of this process (the load generator)."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from bench.stack_bench import tree_cpu_seconds

    own = psutil.Process().cpu_times()
    return {
        **{name: tree_cpu_seconds(pid) for name, pid in processes.items()},
        LOAD_GENERATOR: own.user + own.system,
    }
