"""Embedded Qdrant engines on the platform's own embeddings: does the configured index find what
exact search finds, how fast does it answer, how fast does it index.

Data: the 70k real visual-search embeddings (bench/qdrant_catalogue.py; synthetic clustered vectors,
with the reason recorded, when there is no index or champion). Queries: held-out test-split points
searched with their own vectors, themselves left out of the hits, on three paths:
unfiltered; filtered by the query's own label (selective: Qdrant answers from the payload index by
brute force over the matches); filtered by split=train (broad: HNSW checks the filter while it
walks the graph). Recall@10 is against ``exact=True`` search on the same edge collection.
Per engine (edge with the IndexSpec defaults, qdrant-client local mode): indexing throughput
(payload indexes, HNSW build and verification included), p50/p99 and recall per path; on edge a
recall/latency sweep over hnsw_ef, and in full mode over halved and doubled m / ef_construct.
Writes bench/results/qdrant.json and qdrant.png.

    .venv/bin/python bench/qdrant_bench.py [--points 70000] [--queries 1000]
    .venv/bin/python -m bench --only qdrant [--quick]      (registered as ``qdrant``)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the repository importable (bench.*, embeddings)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qdrant_catalogue import Catalogue, load_catalogue
from bench.schema import RESULTS_DIR, add_bar_chart, add_ratio, add_table, latency_summary, new_result
from embeddings import IndexSpec, VectorStore
from embeddings.engines.edge import EdgeEngine
from embeddings.engines.qdrant import QdrantEngine
from embeddings.filters import Condition, parse_filter
from embeddings.sources import Batch, VisualSearchSource
from modelyard.settings import get_settings

NAME = "qdrant"
TITLE = "Embedded Qdrant engines: recall of the configured index, latency, indexing"
K, BATCH, COLLECTION = 10, 1000, "bench"
EF_SWEEP = (64, 128, 256, 512, 1024)
EDGE, LOCAL = "edge (qdrant-edge-py 0.9, HNSW)", "local (qdrant-client 1.20 local mode, exact)"

PATHS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "unfiltered": lambda query: None,
    "own label": lambda query: {"label": query["label"]},
    "split=train": lambda query: {"split": "train"},
}
"""Search path -> the filter a query (its payload) searches with."""


@dataclass(frozen=True)
class Size:
    points: int
    queries: int
    local_queries: int
    """Local mode scans every point in Python per query (and more with a filter): fewer queries."""


FULL, QUICK = Size(70_000, 1000, 100), Size(3_000, 50, 20)


@dataclass(frozen=True)
class Query:
    """One held-out query: its row (left out of its hits), its vector, its conditions per path."""

    row: int
    vector: np.ndarray
    conditions: dict[str, tuple[Condition, ...]]


def queries_of(catalogue: Catalogue, count: int) -> list[Query]:
    return [
        Query(
            int(row),
            catalogue.vectors[row],
            {path: parse_filter(make(catalogue.payloads[row])) for path, make in PATHS.items()},
        )
        for row in catalogue.query_rows(count)
    ]


def build(store: VectorStore, model: str, catalogue: Catalogue, spec: IndexSpec) -> dict[str, Any]:
    """Index the catalogue as ``yard index`` does (payload indexes first, then verify); time it."""

    def batches() -> Iterator[Batch]:
        for start in range(0, len(catalogue.vectors), BATCH):
            rows = list(range(start, min(start + BATCH, len(catalogue.vectors))))
            yield rows, catalogue.vectors[start : start + BATCH], catalogue.payloads[start : start + BATCH]

    started = time.perf_counter()
    store.build_version(
        model,
        1,
        catalogue.dim,
        batches(),
        total=len(catalogue.vectors),
        spec=spec,
        payload_indexes=VisualSearchSource.payload_indexes,  # the paths filter on them
        progress=False,
    )
    seconds = time.perf_counter() - started
    return {
        "m": spec.m,
        "ef_construct": spec.ef_construct,
        "build_seconds": round(seconds, 2),
        "points_per_second": round(len(catalogue.vectors) / seconds, 1),
    }


def run_path(
    store: VectorStore, name: str, queries: list[Query], path: str, spec: IndexSpec, exact: bool = False
) -> tuple[list[set[int]], list[float]]:
    """Every query's top-K ids (itself left out) and its latency (ms) on one path, through the
    engine the store searches with (so a sweep can pass its own ``spec``). K+1 are asked and the
    query dropped afterwards: ``exclude_ids`` would be a filter, and unfiltered must stay unfiltered."""
    found, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        hits = store.engine.search(name, query.vector, K + 1, query.conditions[path], (), None, spec, exact)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append(set([hit.id for hit in hits if hit.id != query.row][:K]))
    return found, latencies


def recall_at_k(found: list[set[int]], exact: list[set[int]]) -> list[float]:
    """Per query: the share of the exact top-K that the search also returned."""
    return [len(hits & truth) / max(len(truth), 1) for hits, truth in zip(found, exact, strict=True)]


def summarise(found: list[set[int]], latencies: list[float], exact: list[set[int]]) -> dict[str, Any]:
    recalls = recall_at_k(found, exact[: len(found)])
    return {
        **latency_summary(latencies),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "min_recall_at_10": round(float(np.min(recalls)), 2),
    }


def sweep(
    store: VectorStore, name: str, queries: list[Query], spec: IndexSpec, truth: dict[str, list[set[int]]]
) -> list[dict[str, Any]]:
    """Recall and latency per search path as hnsw_ef grows (the configured value included)."""
    rows = []
    for ef in sorted({*EF_SWEEP, spec.hnsw_ef}):
        searched = replace(spec, hnsw_ef=ef)
        paths = {
            path: summarise(*run_path(store, name, queries, path, searched), truth[path]) for path in PATHS
        }
        rows.append({"hnsw_ef": ef, **paths})
        print(
            f"  hnsw_ef={ef}", {path: summary["recall_at_10"] for path, summary in paths.items()}, flush=True
        )
    return rows


def build_variants(spec: IndexSpec, full: bool) -> list[IndexSpec]:
    """The configured build and, in full mode, half and double its m and ef_construct."""
    halved = replace(spec, m=spec.m // 2, ef_construct=spec.ef_construct // 2)
    doubled = replace(spec, m=spec.m * 2, ef_construct=spec.ef_construct * 2)
    return [spec, halved, doubled] if full else [spec]


def measure(catalogue: Catalogue, size: Size, full: bool, work_dir: Path) -> dict[str, Any]:
    """Edge (each build variant), then local mode: the same points, queries and exact truth."""
    spec = IndexSpec()
    queries = queries_of(catalogue, size.queries)
    edge = VectorStore(EdgeEngine.open(work_dir / "edge"))
    builds = []
    for variant in build_variants(spec, full):
        model = f"{COLLECTION}-m{variant.m}-efc{variant.ef_construct}"
        built = build(edge, model, catalogue, variant)
        print(EDGE, built, flush=True)
        name = edge.resolve(model)
        if not builds:  # exact search ignores the graph: one truth serves every build
            exact_runs = {path: run_path(edge, name, queries, path, variant, exact=True) for path in PATHS}
            truth = {path: found for path, (found, _) in exact_runs.items()}
            exact = {path: latency_summary(latencies) for path, (_, latencies) in exact_runs.items()}
        builds.append({**built, "sweep": sweep(edge, name, queries, variant, truth)})
    local = VectorStore(QdrantEngine.local(work_dir / "local"))
    local_build = build(local, COLLECTION, catalogue, spec)
    print(LOCAL, local_build, flush=True)
    name = local.resolve(COLLECTION)
    local_paths = {
        path: summarise(*run_path(local, name, queries[: size.local_queries], path, spec), truth[path])
        for path in PATHS
    }
    return {
        "spec": spec.as_metadata(),
        "queries": len(queries),
        "local_queries": min(size.local_queries, len(queries)),
        "edge_builds": builds,
        "edge_exact": exact,
        "local": {**local_build, "paths": local_paths},
    }


def configured(data: dict[str, Any]) -> dict[str, Any]:
    """Edge's per-path results for the configured build and hnsw_ef."""
    default = data["edge_builds"][0]
    return next(row for row in default["sweep"] if row["hnsw_ef"] == data["spec"]["hnsw_ef"])


def describe(catalogue: Catalogue, data: dict[str, Any]) -> str:
    """The result's summary: what was measured, on what, and what the numbers can say."""
    spec, points = data["spec"], len(catalogue.vectors)
    exact_only = points * catalogue.dim * 4 / 1024 < spec["full_scan_threshold_kb"]
    return " ".join(
        part
        for part in (
            f"{catalogue.source}: {points:,} x {catalogue.dim} float32, cosine, k={K}.",
            f"**Synthetic stand-in**: {catalogue.fallback_reason}." if catalogue.fallback_reason else "",
            f"Queries: {data['queries']} held-out test-split points (local mode: the first "
            f"{data['local_queries']}), each searched with its own vector and left out of its own hits,",
            "on three paths: unfiltered; filtered by its own label (selective: Qdrant scans the payload",
            "index's matches exactly); filtered by split=train (broad: HNSW checks the filter).",
            "Recall@10 is against `exact=True` search on the same edge collection. Edge uses the",
            f"IndexSpec defaults ({settings_label(spec)}); indexing includes the payload indexes, the",
            "HNSW build and the store's verification.",
            "At this size every segment is below full_scan_threshold_kb, so edge searches exactly and"
            " recall says nothing about HNSW (run the full mode)."
            if exact_only
            else "",
        )
        if part
    )


def settings_label(spec: dict[str, Any]) -> str:
    return f"m={spec['m']}, ef_construct={spec['ef_construct']}, hnsw_ef={spec['hnsw_ef']}"


def path_rows(engine: str, summaries: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """One table row per search path: queries, p50, p99, recall@10 and the worst query's."""
    return [
        [
            engine,
            path,
            summaries[path]["n"],
            summaries[path]["median_ms"],
            summaries[path]["p99_ms"],
            summaries[path].get("recall_at_10"),
            summaries[path].get("min_recall_at_10"),
        ]
        for path in PATHS
    ]


def as_result(catalogue: Catalogue, data: dict[str, Any]) -> dict[str, Any]:
    """The measurements in the shared result schema (bench/README.md); the raw ones under ``data``."""
    edge, exact, local, builds = configured(data), data["edge_exact"], data["local"], data["edge_builds"]
    result = new_result(NAME, TITLE, describe(catalogue, data))
    p50 = {path: (local["paths"][path]["median_ms"], edge[path]["median_ms"]) for path in PATHS}
    add_ratio(
        result, "local / edge p50 (unfiltered)", *p50["unfiltered"], "how many times faster edge answers"
    )
    add_ratio(result, "local / edge p50 (own label)", *p50["own label"], "the same with a selective filter")
    add_ratio(
        result,
        "edge / local indexing",
        builds[0]["points_per_second"],
        local["points_per_second"],
        "how many times faster edge indexes",
    )
    add_ratio(result, "local / edge p50 (split=train)", *p50["split=train"], "the same with a broad filter")
    add_ratio(
        result,
        "edge exact / HNSW p50 (unfiltered)",
        exact["unfiltered"]["median_ms"],
        edge["unfiltered"]["median_ms"],
        "what the HNSW index saves over an exact scan of the same collection",
    )
    add_table(
        result,
        f"Configured defaults ({settings_label(data['spec'])}): latency (ms) and recall@10 per path",
        ["engine", "path", "queries", "p50", "p99", "recall@10", "worst query"],
        path_rows(EDGE, edge)
        + path_rows("edge, exact=True (the truth)", exact)
        + path_rows(LOCAL, local["paths"]),
        note="worst query: the lowest recall@10 of a single query.",
    )
    add_table(
        result,
        "Indexing (payload indexes, HNSW build and verification included)",
        ["engine", "m", "ef_construct", "build s", "points/s"],
        [[EDGE, b["m"], b["ef_construct"], b["build_seconds"], b["points_per_second"]] for b in builds]
        + [[LOCAL, None, None, local["build_seconds"], local["points_per_second"]]],
    )
    add_table(
        result,
        "Edge recall@10 and p50 (ms) by build (m, ef_construct) and search (hnsw_ef) settings",
        ["m", "ef_construct", "hnsw_ef", *(f"{path} {what}" for path in PATHS for what in ("recall", "p50"))],
        [
            [b["m"], b["ef_construct"], row["hnsw_ef"]]
            + [row[path][key] for path in PATHS for key in ("recall_at_10", "median_ms")]
            for b in builds
            for row in b["sweep"]
        ],
    )
    add_charts(result, data)
    result["data"] = {
        "source": catalogue.source,
        "fallback_reason": catalogue.fallback_reason,
        "points": len(catalogue.vectors),
        "dim": catalogue.dim,
        "k": K,
        **data,
    }
    return result


def add_charts(result: dict[str, Any], data: dict[str, Any]) -> None:
    """Latency per path and engine, the hnsw_ef latency cost per build, indexing throughput."""
    edge, local, builds = configured(data), data["local"], data["edge_builds"]
    add_bar_chart(
        result,
        "p50 per search path",
        "ms / query (log)",
        list(PATHS),
        {
            "edge HNSW": [edge[path]["median_ms"] for path in PATHS],
            "edge exact": [data["edge_exact"][path]["median_ms"] for path in PATHS],
            "local (exact)": [local["paths"][path]["median_ms"] for path in PATHS],
        },
        log=True,
    )
    builds_named = {f"m={b['m']}, ef_construct={b['ef_construct']}": b for b in builds}
    add_bar_chart(
        result,
        "edge unfiltered p50 vs hnsw_ef (recall@10 in the table)",
        "ms / query",
        [str(row["hnsw_ef"]) for row in builds[0]["sweep"]],
        {label: [row["unfiltered"]["median_ms"] for row in b["sweep"]] for label, b in builds_named.items()},
    )
    add_bar_chart(
        result,
        "indexing throughput",
        "points / s",
        [*(label.replace("ef_construct", "efc") for label in builds_named), "local"],
        {"points/s": [b["points_per_second"] for b in builds] + [local["points_per_second"]]},
    )


def run(size: Size) -> dict[str, Any]:
    """Load the catalogue (real if possible), measure, and shape the result."""
    full = size == FULL
    with tempfile.TemporaryDirectory(prefix="qdrant-bench-") as tmp:
        catalogue = load_catalogue(get_settings(), Path(tmp) / "source").subset(size.points)
        print("catalogue:", catalogue.source, catalogue.fallback_reason or "", flush=True)
        return as_result(catalogue, measure(catalogue, size, full, Path(tmp)))


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry (``python -m bench --only qdrant``)."""
    return run(QUICK if quick else FULL)


def main() -> None:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from bench.machine import describe_machine
    from bench.run import record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=FULL.points)
    parser.add_argument("--queries", type=int, default=FULL.queries)
    args = parser.parse_args()
    size = Size(args.points, args.queries, min(args.queries, FULL.local_queries))
    command = " ".join([".venv/bin/python", "bench/qdrant_bench.py", *sys.argv[1:]])
    record(NAME, lambda: run(size), size != FULL, command, describe_machine())
    print(f"wrote {RESULTS_DIR / 'qdrant.json'} and {RESULTS_DIR / 'qdrant.png'}")


if __name__ == "__main__":
    main()
