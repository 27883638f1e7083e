"""The benchmark harness: result schema, runner bookkeeping and the generic report (no benchmark runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run
from bench.report import cell, render, write_report
from bench.schema import (
    add_bar_chart,
    add_ratio,
    add_table,
    latency_summary,
    new_result,
    read_results,
    skipped,
)

MACHINE = {"cpu_model": "Test CPU", "logical_cores": 2, "ram_gib": 24.0}


def sample_result() -> dict:
    result = new_result("demo", "Demo benchmark", "Measures *nothing*, twice.")
    add_ratio(result, "plain / ray-1", 30.0, 12.0, "plain is faster")
    add_table(
        result,
        "Throughput",
        ["model", "samples/s"],
        [["ranking", 1234.5678], ["moderation", None]],
        note="n=3",
    )
    result["sections"].append({"title": "Extra", "markdown": "Only this benchmark has this."})
    return result


def test_ratio_is_numerator_over_denominator_and_survives_a_zero_denominator() -> None:
    result = sample_result()
    add_ratio(result, "broken", 1.0, 0.0, "no baseline")
    assert result["ratios"][0]["value"] == 2.5
    assert cell(result["ratios"][1]["value"]) == "n/a"


def test_latency_summary_reports_median_and_p99() -> None:
    summary = latency_summary([1.0] * 99 + [100.0])
    assert summary["n"] == 100
    assert summary["median_ms"] == 1.0
    assert 1.0 < summary["p99_ms"] <= 100.0


def test_report_renders_tables_ratios_sections_and_skips_honestly(tmp_path: Path) -> None:
    results = [sample_result(), {**skipped("stack", "Stack", "serving is not runnable here"), "quick": True}]
    text = render(
        results,
        {
            **MACHINE,
            "physical_cores": 1,
            "os": "Debian",
            "kernel": "6",
            "python": "3.11",
            "packages": {"torch": "2.13.0"},
        },
        tmp_path,
        tmp_path / "docs" / "b.md",
    )
    assert "| ranking | 1,235 |" in text
    assert "| moderation | — |" in text
    assert "| plain / ray-1 | 2.5 | plain is faster |" in text
    assert "### Extra" in text
    assert "> skipped: serving is not runnable here" in text
    assert "Test CPU" in text and "torch 2.13.0" in text


def test_results_that_do_not_follow_the_schema_are_reported_as_failed(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(json.dumps({"results": []}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "machine.json").write_text(json.dumps(MACHINE))
    statuses = {r["name"]: (r["status"], r["reason"]) for r in read_results(tmp_path)}
    assert set(statuses) == {"old", "broken"}
    assert all(status == "failed" for status, _ in statuses.values())
    assert "schema" in statuses["old"][1] and "JSON" in statuses["broken"][1]


def test_record_writes_a_failed_result_when_the_benchmark_raises(tmp_path: Path) -> None:
    def explode() -> dict:
        raise RuntimeError("no GPU today")

    result = run.record("boom", explode, quick=True, command="cmd", machine=MACHINE, results_dir=tmp_path)
    written = json.loads((tmp_path / "boom.json").read_text())
    assert result["status"] == written["status"] == "failed"
    assert "no GPU today" in written["reason"]
    assert written["command"] == "cmd" and written["quick"] is True


def test_record_draws_the_charts_into_a_png_listed_first(tmp_path: Path) -> None:
    def measure() -> dict:
        result = sample_result()
        add_bar_chart(
            result, "samples/s", "samples/s", ["a", "b"], {"plain": [1.0, None], "ray": [0.5, 2.0]}, log=True
        )
        result["plots"] = ["extra.png"]
        return result

    result = run.record("demo", measure, quick=False, command="cmd", machine=MACHINE, results_dir=tmp_path)
    assert result["plots"] == ["demo.png", "extra.png"]
    assert (tmp_path / "demo.png").stat().st_size > 1000
    report = write_report(tmp_path, tmp_path / "docs" / "benchmarks.md")
    assert "![demo](../demo.png)" in report.read_text()


def test_only_rejects_unknown_benchmarks() -> None:
    assert run.parse_args(["--only", "qdrant"]).names == ["qdrant"]
    assert run.parse_args([]).names == list(run.BENCHMARKS)
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "nope"])


def test_every_registered_benchmark_resolves_to_a_callable() -> None:
    for name in run.BENCHMARKS:
        assert callable(run.load_benchmark(name)), name
