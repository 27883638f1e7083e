"""The result JSON every benchmark writes (``bench/results/<name>.json``), and small helpers to fill it.

One schema for all, so the report renders any result (ours, or one written by a script we never
import) with one generic renderer; bench/README.md documents the fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

SCHEMA_VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MACHINE_FILE = "machine.json"

Status = Literal["ok", "skipped", "failed"]


def new_result(
    name: str, title: str, summary: str, status: Status = "ok", reason: str | None = None
) -> dict[str, Any]:
    """An empty result: the fields every renderer may rely on, with their defaults."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "title": title,
        "status": status,
        "reason": reason,
        "summary": summary,
        "tables": [],
        "ratios": [],
        "charts": [],
        "plots": [],
        "sections": [],
        "data": {},
    }


def skipped(name: str, title: str, reason: str) -> dict[str, Any]:
    """A benchmark that could not run here: the report shows it, with the reason, instead of hiding it."""
    return new_result(name, title, summary="", status="skipped", reason=reason)


def add_table(
    result: dict[str, Any],
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    note: str | None = None,
) -> None:
    result["tables"].append(
        {"title": title, "columns": list(columns), "rows": [list(row) for row in rows], "note": note}
    )


def add_ratio(result: dict[str, Any], label: str, numerator: float, denominator: float, meaning: str) -> None:
    """A ratio of two numbers measured in the same run (this machine is shared: absolute numbers drift,
    ratios against a baseline run side by side drift much less)."""
    value = numerator / denominator if denominator else float("nan")
    result["ratios"].append({"label": label, "value": round(value, 3), "meaning": meaning})


def add_bar_chart(
    result: dict[str, Any],
    title: str,
    ylabel: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    log: bool = False,
) -> None:
    """A grouped bar chart the runner draws into ``<name>.png`` (benchmarks never touch matplotlib)."""
    result["charts"].append(
        {
            "kind": "bars",
            "title": title,
            "ylabel": ylabel,
            "categories": list(categories),
            "series": {label: list(values) for label, values in series.items()},
            "log": log,
        }
    )


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """Median, p99, mean and count of a latency sample, in ms."""
    values = np.asarray(milliseconds, dtype=float)
    return {
        "n": int(values.size),
        "median_ms": round(float(np.median(values)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
    }


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    temporary.replace(path)
    return path


def read_results(directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every result JSON in ``directory`` (machine.json excluded), by name; unreadable files become
    ``failed`` results so the report says so instead of silently dropping them."""
    results = []
    for path in sorted(directory.glob("*.json")):
        if path.name == MACHINE_FILE:
            continue
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            payload = new_result(path.stem, path.stem, "", status="failed", reason=f"unreadable JSON: {exc}")
        if payload.get("schema_version") != SCHEMA_VERSION:
            payload = new_result(
                path.stem,
                path.stem,
                "",
                status="failed",
                reason=f"{path.name} does not follow schema v{SCHEMA_VERSION}",
            )
        results.append({**new_result(path.stem, path.stem, ""), **payload})
    return results


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
