"""Serving benchmark verdicts and result document, from hand-made measurements (no servers)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.report import render
from bench.serving_report import (
    CONCURRENCY,
    FLOOR,
    LOGGED,
    PLAIN,
    STACK,
    Measurements,
    Run,
    Target,
    as_result,
    evaluate_targets,
)

WORKLOADS = {"visual-search": "visual-search: one image", "ranking-candidates": "ranking: 100 candidates"}


def summary(p99_ms: float, rps: float, errors: int = 0) -> dict[str, float]:
    return {
        "requests": 100,
        "errors": errors,
        "p50_ms": p99_ms / 2,
        "p99_ms": p99_ms,
        "mean_ms": 1.0,
        "rps": rps,
    }


def measurements(**changes: object) -> Measurements:
    """Both workloads on both paths at every concurrency: stack p99 10 ms, 200 req/s; plain 100 req/s;
    plain with the payload log, at 32 only: 95 req/s."""
    runs = [
        Run(
            path,
            workload,
            concurrency,
            summary(10.0 if path == STACK else 30.0, 200.0 if path == STACK else 100.0),
            {},
        )
        for path in (STACK, PLAIN)
        for workload in WORKLOADS
        for concurrency in CONCURRENCY
    ] + [Run(LOGGED, workload, 32, summary(31.0, 95.0), {}) for workload in WORKLOADS]
    base = Measurements(
        quick=True,
        workloads=WORKLOADS,
        versions={"visual-search": 2, "ranking": 3},
        floor={w: {"requests": 300, "p50_ms": 1.0, "p99_ms": 2.0, "rps": 900.0} for w in WORKLOADS},
        runs=runs,
        stack={
            "wall_seconds": 41.5,
            "ready_seconds": 39.0,
            "memory": {
                "total_mib": 2500.0,
                "total_pss_mib": 1500.0,
                "supervisor_mib": 60.0,
                "children_mib": {"triton": 900.0, "gateway": 80.0},
                "processes": 9,
            },
        },
        plain_rss_mib={"visual-search": 300.0, "ranking": 320.0},
        index_points={"visual-search": 70_000, "ranking": 1682},
        catalogue_points=70_000,
        not_served={},
    )
    return replace(base, **changes)


def by_label(m: Measurements) -> dict[str, Target]:
    return {target.label: target for target in evaluate_targets(m)}


def test_every_target_is_met_by_a_fast_lean_error_free_run() -> None:
    targets = evaluate_targets(measurements())
    assert [t.verdict for t in targets] == ["met"] * len(targets)
    assert {t.measured for t in targets if t.unit == "x"} == {2.0, 0.95}  # stack / plain, log on / off


def test_latency_above_the_limit_is_not_met_with_the_measured_value() -> None:
    slow = [
        replace(r, summary=summary(25.0, 200.0)) if r.path == STACK and r.concurrency == 1 else r
        for r in measurements().runs
    ]
    targets = by_label(measurements(runs=slow))
    ranking = targets["ranking-candidates: p99 at concurrency 1 through the stack"]
    assert (ranking.measured, ranking.verdict) == (25.0, "not met")
    assert targets["visual-search: p99 at concurrency 1 through the stack"].verdict == "met"  # 25 <= 50


def test_a_partial_visual_search_index_is_not_evaluated_and_says_why() -> None:
    target = by_label(measurements(index_points={"visual-search": 10_000}))[
        "visual-search: p99 at concurrency 1 through the stack"
    ]
    assert target.met is None and target.verdict == "not evaluated"
    assert target.measured == 10.0 and "10000 of the catalogue's 70000" in target.note


def test_slower_than_plain_kserve_at_32_and_errors_and_memory_are_not_met() -> None:
    runs = [
        replace(r, summary=summary(10.0, 50.0, errors=2)) if r.path == STACK and r.concurrency == 32 else r
        for r in measurements().runs
    ]
    memory = {**measurements().stack["memory"], "total_mib": 3900.0}  # > 4e9 bytes (3815 MiB)
    targets = by_label(measurements(runs=runs, stack={**measurements().stack, "memory": memory}))
    throughput = targets["ranking-candidates: req/s at concurrency 32, stack / plain KServe"]
    assert (throughput.measured, throughput.verdict) == (0.5, "not met")
    assert (
        targets["failed requests, all runs"].measured == 4
        and targets["failed requests, all runs"].met is False
    )
    assert targets["whole-stack resident memory (RSS, every process)"].met is False


def test_a_payload_log_costing_more_than_a_tenth_is_not_met() -> None:
    runs = [replace(r, summary=summary(40.0, 85.0)) if r.path == LOGGED else r for r in measurements().runs]
    target = by_label(measurements(runs=runs))[
        "visual-search: req/s at concurrency 32, payload log on / off (plain KServe)"
    ]
    assert (target.measured, target.verdict) == (0.85, "not met")
    unmeasured = [r for r in measurements().runs if r.path != LOGGED]
    assert by_label(measurements(runs=unmeasured))[target.label].verdict == "not evaluated"


def test_the_payload_log_cost_is_the_median_of_the_rounds_ratios() -> None:
    """One round disturbed by the shared machine (the logging server's second round at half speed)
    moves the whole runs' ratio to 0.84 but not the median of the rounds' ratios."""
    runs = [
        replace(r, round_rps=[95.0, 50.0, 96.0, 97.0])
        if r.path == LOGGED
        else replace(r, round_rps=[100.0] * 4)
        if r.path == PLAIN and r.concurrency == 32
        else r
        for r in measurements().runs
    ]
    target = by_label(measurements(runs=runs))[
        "visual-search: req/s at concurrency 32, payload log on / off (plain KServe)"
    ]
    assert (target.measured, target.verdict, target.note) == (0.955, "met", "median of 4 rounds' ratios")
    table = next(t for t in as_result(measurements(runs=runs))["tables"] if t["title"].startswith("Payload"))
    first_two = [["visual-search", 1, 100.0, 95.0, 0.95], ["visual-search", 2, 100.0, 50.0, 0.5]]
    assert table["rows"][:2] == first_two


def test_a_workload_without_runs_is_not_evaluated() -> None:
    runs = [r for r in measurements().runs if r.workload != "ranking-candidates"]
    targets = by_label(measurements(runs=runs))
    assert targets["ranking-candidates: p99 at concurrency 1 through the stack"].note == "not measured"
    assert targets["ranking-candidates: req/s at concurrency 32, stack / plain KServe"].met is None


def test_result_has_ratios_tables_and_charts_and_renders(tmp_path: Path) -> None:
    result = as_result(measurements(not_served={"moderation": "no champion"}))
    ratios = {r["label"]: r["value"] for r in result["ratios"]}
    assert ratios["visual-search: stack / plain KServe req/s at c=32"] == 2.0
    assert ratios["ranking-candidates: stack p99 / floor p99 at c=1"] == 5.0
    titles = [table["title"] for table in result["tables"]]
    assert titles[0] == "Targets" and len(titles) == 1 + len(WORKLOADS) + 2
    rows = result["tables"][1]["rows"]
    assert rows[0][0] == FLOOR and [row[:2] for row in rows[1:4]] == [[STACK, c] for c in CONCURRENCY]
    assert [chart["categories"] for chart in result["charts"]] == [list(WORKLOADS)] * 2
    assert "**moderation not served**: no champion" in result["summary"]
    assert ratios["ranking-candidates: payload log on / off req/s at c=32 (plain KServe)"] == 0.95
    assert "Targets: 8 of 8 met" in result["summary"]
    json.dumps(result)  # the runner writes it as is
    assert "| ranking-candidates: p99 at concurrency 1 through the stack | <= 20 ms |" in render(
        [result], None, tmp_path, tmp_path / "benchmarks.md"
    )


@pytest.mark.parametrize(("met", "verdict"), [(True, "met"), (False, "not met"), (None, "not evaluated")])
def test_verdict_words(met: bool | None, verdict: str) -> None:
    assert Target("x", "<= 1", 1.0, "ms", met).verdict == verdict


def test_cpu_per_request_is_tabled_for_the_throughput_runs_with_a_total() -> None:
    cpu = {"gateway": 1.5, "triton": 2.0, "load generator": 0.5}
    runs = [
        replace(run, cpu_ms=cpu if run.concurrency == 32 else {"gateway": 9.0}) for run in measurements().runs
    ]
    result = as_result(measurements(runs=runs))
    table = next(t for t in result["tables"] if t["title"].startswith("CPU per answered request"))
    first = [row for row in table["rows"] if row[:2] == ["visual-search", STACK]]
    assert first == [
        ["visual-search", STACK, "gateway", 1.5],
        ["visual-search", STACK, "triton", 2.0],
        ["visual-search", STACK, "load generator", 0.5],
        ["visual-search", STACK, "total", 4.0],
    ]
    assert all(row[3] != 9.0 for row in table["rows"])  # other concurrencies stay out


def test_no_cpu_table_without_cpu_readings() -> None:
    result = as_result(measurements())
    assert not any(t["title"].startswith("CPU per answered request") for t in result["tables"])
