"""Run benchmarks from the registry, write their results, then regenerate docs/benchmarks.md.

    .venv/bin/python -m bench [--quick] [--only training,qdrant] [--no-report]

A benchmark is ``callable(quick: bool) -> result dict`` (see ``bench.schema``), registered below as
``"module:function"`` so running one benchmark never imports the others' heavy dependencies. A
benchmark that raises is recorded as ``failed`` (with the error) and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.charts import draw_charts
from bench.machine import describe_machine, load_average
from bench.report import write_report
from bench.schema import MACHINE_FILE, RESULTS_DIR, new_result, utc_now, write_json

BENCHMARKS: dict[str, str] = {
    "training": "bench.training_bench:benchmark",
    "qdrant": "bench.qdrant_bench:benchmark",
    "stack": "bench.stack_bench:benchmark",
    "serving": "bench.serving_bench:benchmark",
    "soak": "bench.soak_bench:benchmark",
}
"""Name (= result file stem) -> ``module:function``; add a line here to register a benchmark."""

INVOKED_AS_ENV = "BENCH_INVOKED_AS"
"""Set by mk/bench.mk to the make command, so the report shows what a reader should type."""

Benchmark = Callable[[bool], dict[str, Any]]
console = Console(stderr=True)


def load_benchmark(name: str) -> Benchmark:
    module, function = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), function)


def run_one(name: str, quick: bool, command: str, machine: dict[str, Any]) -> dict[str, Any]:
    """Run one registered benchmark and write its result."""
    return record(name, lambda: load_benchmark(name)(quick), quick, command, machine)


def record(
    name: str,
    measure: Callable[[], dict[str, Any]],
    quick: bool,
    command: str,
    machine: dict[str, Any],
    results_dir: Path = RESULTS_DIR,
) -> dict[str, Any]:
    """Call ``measure``, add the run's facts (command, time, load, machine), draw its charts and write
    ``<name>.json`` (+ ``<name>.png``). Also what a benchmark's own CLI calls, so both write the same."""
    console.rule(f"[bold]{name}[/] ({'quick' if quick else 'full'})")
    load_before, started_at, started = load_average(), utc_now(), time.monotonic()
    try:
        result = measure()
    except Exception as exc:  # a broken benchmark must not hide the others' numbers
        console.print_exception(max_frames=5)
        result = new_result(name, name, "", status="failed", reason=f"{type(exc).__name__}: {exc}")
        result["data"]["traceback"] = traceback.format_exc(limit=8)
    result.update(
        name=name,
        quick=quick,
        command=command,
        started_at=started_at,
        seconds=round(time.monotonic() - started, 1),
        load_avg={"before": load_before, "after": load_average()},
        machine=machine,
    )
    if result.get("charts"):
        plot = draw_charts(result["charts"], result["title"], results_dir / f"{name}.png")
        result["plots"] = [plot.name, *[p for p in result.get("plots", []) if p != plot.name]]
    write_json(results_dir / f"{name}.json", result)
    console.print(f"{name}: [bold]{result['status']}[/] in {result['seconds']} s")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small data and few repetitions (< 10 minutes in all)"
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-report", action="store_true", help="do not regenerate docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    if os.environ.get(INVOKED_AS_ENV):
        command = f"{os.environ[INVOKED_AS_ENV]}  (runs: {command})"
    machine = describe_machine()
    write_json(RESULTS_DIR / MACHINE_FILE, {**machine, "written_at": utc_now()})
    statuses = {name: run_one(name, args.quick, command, machine)["status"] for name in args.names}
    if not args.no_report:
        console.print(f"wrote {write_report()}")
    return 1 if "failed" in statuses.values() else 0
