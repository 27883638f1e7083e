"""Cold start and memory of the local serving stack (Triton, one transformer per model, the gateway).

Cold start = ``yard serve --detach`` from launch until it returns with every child ready (and the
supervisor's own ``ready_seconds`` from ``<state_dir>/serving/stack.json``). Memory = resident set
of every process under the supervisor (psutil, whole process tree), per child and in total, a few
seconds after ready. Runs against the benchmark state dir; if it holds no champions yet, small smoke
models are trained and registered first (not timed).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psutil
from rich.console import Console

from bench.schema import add_bar_chart, add_ratio, add_table, new_result
from bench.stack_setup import detached_stack, stack_benchmark
from modelyard.settings import Settings

NAME = "stack"
TITLE = "Local serving stack: cold start to all-ready and resident memory"
STARTS = {True: 1, False: 3}
"""Cold starts per run: quick, full."""
SETTLE_S = 5.0
"""After ready, let lazy initialisation finish before reading memory."""
RSS_SAMPLES, RSS_INTERVAL_S = 5, 1.0
TRITON = "triton"

console = Console(stderr=True)


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry; ``skipped`` (with the reason) when the stack cannot run here."""
    return stack_benchmark(
        NAME,
        TITLE,
        lambda settings, models: as_result(
            [cold_start(settings, index) for index in range(STARTS[quick])], models
        ),
    )


def cold_start(settings: Settings, index: int) -> dict[str, Any]:
    """One ``yard serve --detach`` until ready, memory readings, then ``yard serve stop``."""
    with detached_stack(settings, auth=False, label=f"stack cold start {index + 1}") as started:
        state = started.state
        time.sleep(SETTLE_S)
        memory = stack_memory(
            state.supervisor_pid, {name: child.pid for name, child in state.children.items()}
        )
    console.print(
        f"cold start {index + 1}: {started.wall_seconds:.1f} s to all-ready (supervisor: "
        f"{state.ready_seconds} s), {memory['total_mib']:.0f} MiB resident"
    )
    return {
        "wall_seconds": started.wall_seconds,
        "ready_seconds": state.ready_seconds,
        "status": state.status,
        "served": {name: model.version for name, model in state.models.items()},
        "skipped": state.skipped,
        **memory,
    }


def stack_memory(supervisor_pid: int, children: dict[str, int | None]) -> dict[str, Any]:
    """Median over a few readings of the RSS of each child's process tree, the supervisor, and all."""
    readings = []
    for _ in range(RSS_SAMPLES):
        readings.append(
            {
                "total": tree_rss(supervisor_pid),
                "total_pss": tree_pss(supervisor_pid),
                "supervisor": process_rss(supervisor_pid),
                **{name: tree_rss(pid) if pid else 0 for name, pid in children.items()},
            }
        )
        time.sleep(RSS_INTERVAL_S)
    mib = {key: statistics.median(r[key] for r in readings) / 2**20 for key in readings[0]}
    return {
        "total_mib": round(mib.pop("total"), 1),
        "total_pss_mib": round(mib.pop("total_pss"), 1),
        "supervisor_mib": round(mib.pop("supervisor"), 1),
        "children_mib": {name: round(value, 1) for name, value in mib.items()},
        "processes": len(_tree(supervisor_pid)),
    }


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and every descendant (processes that vanish meanwhile count 0)."""
    return sum(process_rss(process.pid) for process in _tree(pid))


def tree_pss(pid: int) -> int:
    """Proportional set size of the tree: shared pages (torch, libpython) counted once, not per process."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            continue
    return total


def process_rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and every descendant still running."""
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def as_result(starts: list[dict[str, Any]], models: list[str]) -> dict[str, Any]:
    result = new_result(
        NAME,
        TITLE,
        f"`yard serve --detach --port 0 --no-auth` on the benchmark state dir (`.modelyard/bench`), serving "
        f"the champions of {', '.join(models)}; {len(starts)} cold start(s), each stopped with "
        "`yard serve stop` before the next. *Wall* is measured from launching the command to its return "
        "(everything ready); *supervisor* is `ready_seconds` from `stack.json`. Memory is the median of "
        f"{RSS_SAMPLES} psutil readings, {SETTLE_S:.0f} s after ready, of each child's process tree "
        "(Triton includes its python-backend stubs). *Total RSS* sums every process under the supervisor "
        "and the supervisor itself, so pages shared between processes count once per process; *total PSS* "
        "(proportional set size) counts them once.",
    )
    walls = [s["wall_seconds"] for s in starts]
    readies = [s["ready_seconds"] for s in starts if s["ready_seconds"] is not None]
    totals = [s["total_mib"] for s in starts]
    add_table(
        result,
        "Cold start (seconds) and total resident memory",
        ["start", "wall s", "supervisor ready s", "processes", "total RSS MiB", "total PSS MiB", "status"],
        [
            [
                i + 1,
                s["wall_seconds"],
                s["ready_seconds"],
                s["processes"],
                s["total_mib"],
                s["total_pss_mib"],
                s["status"],
            ]
            for i, s in enumerate(starts)
        ]
        + [
            [
                "median",
                statistics.median(walls),
                statistics.median(readies) if readies else None,
                None,
                statistics.median(totals),
                statistics.median(s["total_pss_mib"] for s in starts),
                None,
            ]
        ],
    )
    last = starts[-1]
    children = last["children_mib"]
    add_table(
        result,
        "Resident memory per child (MiB, last start)",
        ["process", "MiB", "share of total"],
        [[name, mib, f"{mib / last['total_mib']:.0%}"] for name, mib in sorted(children.items())]
        + [["supervisor", last["supervisor_mib"], f"{last['supervisor_mib'] / last['total_mib']:.0%}"]],
    )
    if readies:
        add_ratio(
            result,
            "CLI wall / supervisor ready",
            statistics.median(walls),
            statistics.median(readies),
            "what `yard serve --detach` adds around the supervisor's own start (imports, polling)",
        )
    if TRITON in children:
        add_ratio(
            result,
            "stack / Triton alone (RSS)",
            last["total_mib"],
            children[TRITON],
            "memory of the whole stack relative to the inference server it fronts",
        )
    add_bar_chart(
        result,
        "resident memory per process (MiB)",
        "MiB",
        sorted(children),
        {"RSS": [children[n] for n in sorted(children)]},
    )
    result["data"] = {"starts": starts}
    return result
