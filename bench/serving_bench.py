"""Serving latency and throughput: the whole stack vs a plain KServe server vs the bare model.

A run, one step after the other (the embedded Qdrant store has one owner at a time, and nothing
else of ours competes for the 2 cores during a measurement):

1. setup, not timed: smoke champions where missing (``bench.stack_setup``), and the champions'
   indexes built with ``yard index`` where absent: visual-search over the whole catalogue, ranking's
   items;
2. the floor: each workload's TorchScript calls, in this process, one request after another;
3. the whole stack: ``yard serve --detach`` (its cold start is reported), every workload through the
   gateway at each concurrency, the stack's memory read after that load, ``yard serve stop``;
4. plain KServe: per model, ``bench/plain_kserve.py`` started, loaded the same way, its memory read,
   stopped.

Verdicts and the result document: ``bench.serving_report``.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
from rich.console import Console

from bench.load import run_load
from bench.schema import latency_summary
from bench.serving_report import CONCURRENCY, MIB, NAME, PLAIN, STACK, TITLE, Measurements, Run, as_result
from bench.serving_workloads import BUILDERS, Workload
from bench.stack_setup import detached_stack, ensure_index, stack_benchmark
from bench.torchscript import TorchScriptModels
from modelyard.settings import Settings
from serving.transformer.version import VersionState, resolve_version_state

INDEXED = ("visual-search", "ranking")
"""The models whose transformers search Qdrant."""
STACK_REPLICAS = {"moderation": 2}
"""Transformer processes of the benchmark's stack (``MODELYARD_TRANSFORMER_REPLICAS``): moderation's
transformer is CPU-bound Python (tokenising raw emails) and one process holds one core; the
searching models stay at one (the embedded Qdrant collection admits one process)."""
LOAD_SECONDS = {True: 2.0, False: 10.0}
"""Per (path, workload, concurrency): quick, full."""
WARMUP = {True: 10, False: 50}
"""Requests before each load run, one at a time, not recorded."""
FLOOR_REQUESTS = {True: 300, False: 3000}
FLOOR_WARMUP = 20
LOAD_GENERATOR = "load generator"
"""This process alone (not its children: the plain-KServe server is one), in the CPU accounting."""
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
    stack_runs, stack, not_served = measure_stack(settings, states, workloads, quick)
    served = {model: state for model, state in states.items() if model not in not_served}
    plain_runs, plain_rss = measure_plain(settings, served, workloads, quick)
    return as_result(
        Measurements(
            quick=quick,
            workloads={w.name: w.label for w in workloads},
            versions={model: state.version for model, state in states.items()},
            floor=floor,
            runs=stack_runs + plain_runs,
            stack=stack,
            plain_rss_mib=plain_rss,
            index_points=index_points,
            catalogue_points=catalogue_points(settings),
            not_served=not_served,
        )
    )


def catalogue_points(settings: Settings) -> int:
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


def measure_stack(
    settings: Settings, states: dict[str, VersionState], workloads: list[Workload], quick: bool
) -> tuple[list[Run], dict[str, Any], dict[str, str]]:
    """Load runs through the gateway, the cold start, memory after the load, and the models left out."""
    from bench.stack_bench import stack_memory
    from serving.stack.client import read_api_key

    replicated = settings.model_copy(update={"transformer_replicas": STACK_REPLICAS})
    with detached_stack(replicated, auth=True, label="serving benchmark: the whole stack") as started:
        state = started.state
        for name, model in state.models.items():
            if model.version != states[name].version:
                raise RuntimeError(
                    f"the stack serves {name} v{model.version}, not the v{states[name].version} "
                    "this benchmark resolved (was the champion moved meanwhile?)"
                )
        headers = {"x-api-key": read_api_key(settings) or ""}
        processes = {name: child.pid for name, child in state.children.items() if child.pid}
        runs = [
            load_run(STACK, state.gateway_url, workload, concurrency, headers, quick, processes)
            for workload in workloads
            if workload.model in state.models
            for concurrency in CONCURRENCY
        ]
        memory = stack_memory(
            state.supervisor_pid, {name: child.pid for name, child in state.children.items()}
        )
    stack = {
        "wall_seconds": started.wall_seconds,
        "ready_seconds": state.ready_seconds,
        "memory": memory,
        "transformer_replicas": STACK_REPLICAS,
    }
    return runs, stack, dict(state.skipped)


def measure_plain(
    settings: Settings, states: dict[str, VersionState], workloads: list[Workload], quick: bool
) -> tuple[list[Run], dict[str, float]]:
    """Each model's plain-KServe server in turn: its load runs and its memory after them."""
    from bench.plain_kserve import plain_server
    from bench.stack_bench import tree_rss
    from serving.stack.plan import child_environment, torch_threads_environment

    runs: list[Run] = []
    rss = {}
    for model, state in states.items():
        env = {**child_environment(settings), **torch_threads_environment(settings)}
        with plain_server(state, env, settings.state_dir / RUN_DIR) as child:
            runs += [
                load_run(PLAIN, child.spec.url, workload, concurrency, {}, quick, {"server": child.pid or 0})
                for workload in workloads
                if workload.model == model
                for concurrency in CONCURRENCY
            ]
            rss[model] = round(tree_rss(child.pid or 0) / MIB, 1)
    return runs, rss


def load_run(
    path: str,
    url: str,
    workload: Workload,
    concurrency: int,
    headers: dict[str, str],
    quick: bool,
    processes: dict[str, int],
) -> Run:
    """One load run, with the CPU each server process tree (``name -> pid``) and the load generator
    (this process) spent on it per answered request."""
    before = _cpu_seconds(processes)
    result = run_load(
        url,
        workload.request,
        concurrency,
        duration_s=LOAD_SECONDS[quick],
        headers=headers,
        warmup=WARMUP[quick],
    )
    answered = result.requests + WARMUP[quick]  # the warmup requests ran inside the CPU interval
    cpu_ms = {
        name: round((seconds - before[name]) * 1000 / answered, 3)
        for name, seconds in _cpu_seconds(processes).items()
    }
    summary = result.summary()
    console.print(
        f"{path} {workload.name} c={concurrency}: p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, "
        f"{summary['rps']} req/s, {summary['errors']} errors, "
        f"CPU {sum(cpu_ms.values()):.2f} ms/request"
    )
    return Run(path, workload.name, concurrency, summary, dict(result.failures.most_common(5)), cpu_ms)


def _cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each server's process tree, and of this process (the load generator)."""
    from bench.stack_bench import tree_cpu_seconds

    own = psutil.Process().cpu_times()
    return {
        **{name: tree_cpu_seconds(pid) for name, pid in processes.items()},
        LOAD_GENERATOR: own.user + own.system,
    }
