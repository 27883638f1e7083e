"""Embedded Qdrant engines compared through the same VectorStore interface, on the same data.

70k x 128 float32 vectors drawn around 100 cluster centres (like real embeddings: neighbours
are close, classes overlap), payload {label, year}. Per engine: indexing throughput (build,
verify and HNSW build included), query latency p50/p99 with and without a payload filter, and
recall@10 against exact numpy brute force. Writes bench/results/qdrant.json and qdrant.png.

    .venv/bin/python bench/qdrant_bench.py [--points 70000] [--queries 200]
    .venv/bin/python -m bench --only qdrant [--quick]      (registered as ``qdrant``)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the repository importable (bench.*, embeddings)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bench.schema import RESULTS_DIR, add_ratio, add_table, new_result
from embeddings import IndexSpec, VectorStore
from embeddings.engines.edge import EdgeEngine
from embeddings.engines.qdrant import QdrantEngine

NAME = "qdrant"
DIM, CLUSTERS, K, BATCH = 128, 100, 10, 1000
FULL_SIZE, QUICK_SIZE = (70_000, 200), (3_000, 30)
"""(points, queries); quick stays small because local mode indexes slowly (it is exact, not HNSW)."""
EF_SWEEP = (64, 128, 256, 512, 1024)
FILTER = {"label": 3}


def clustered_vectors(points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    cluster = rng.integers(0, CLUSTERS, size=points)
    vectors = centres[cluster] + 0.6 * rng.normal(size=(points, DIM)).astype(np.float32)
    return vectors.astype(np.float32), cluster


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> list[set[int]]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return [set(np.argpartition(-row, K)[:K].tolist()) for row in scores]


def run_engine(
    engine_name: str, store: VectorStore, vectors, payloads, queries, truth, truth_filtered
) -> dict:
    def batches():
        for start in range(0, len(vectors), BATCH):
            ids = list(range(start, min(start + BATCH, len(vectors))))
            yield ids, vectors[start : start + BATCH], payloads[start : start + BATCH]

    started = time.perf_counter()
    store.build_version(
        "bench", 1, DIM, batches(), total=len(vectors), spec=IndexSpec(), payload_indexes={"label": "integer"}
    )
    build_seconds = time.perf_counter() - started
    result = {
        "engine": engine_name,
        "points": len(vectors),
        "build_seconds": round(build_seconds, 2),
        "index_vectors_per_second": round(len(vectors) / build_seconds, 1),
    }
    for label, flt, expected in (("unfiltered", None, truth), ("filtered", FILTER, truth_filtered)):
        latencies, recalls = [], []
        for query, exact in zip(queries, expected, strict=True):
            t0 = time.perf_counter()
            hits = store.search("bench", query, K, filter=flt)
            latencies.append((time.perf_counter() - t0) * 1000)
            recalls.append(len({hit.id for hit in hits} & exact) / K)
        result[label] = {
            "queries": len(queries),
            "p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "p99_ms": round(float(np.percentile(latencies, 99)), 3),
            "recall_at_10": round(float(np.mean(recalls)), 4),
        }
        print(engine_name, label, result[label], flush=True)
    print(engine_name, "build", result["build_seconds"], "s", flush=True)
    result["recall_vs_hnsw_ef"] = ef_sweep(store, queries, truth)
    return result


def ef_sweep(store: VectorStore, queries: np.ndarray, truth: list[set[int]]) -> list[dict]:
    """Unfiltered recall@10 and p50 as the search-time ef grows (the knob IndexSpec.hnsw_ef sets)."""
    name = store.resolve("bench")
    sweep = []
    for ef in EF_SWEEP:
        spec = replace(IndexSpec(), hnsw_ef=ef)
        latencies, recalls = [], []
        for query, exact in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            hits = store.engine.search(name, query, K, (), (), None, spec)
            latencies.append((time.perf_counter() - t0) * 1000)
            recalls.append(len({hit.id for hit in hits} & exact) / K)
        sweep.append(
            {
                "hnsw_ef": ef,
                "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                "recall_at_10": round(float(np.mean(recalls)), 4),
            }
        )
        print("  ef", sweep[-1], flush=True)
    return sweep


def plot(results: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = [r["engine"] for r in results]
    for ax, label in zip(axes[:2], ("unfiltered", "filtered"), strict=True):
        x = np.arange(len(names))
        ax.bar(x - 0.2, [r[label]["p50_ms"] for r in results], 0.4, label="p50")
        ax.bar(x + 0.2, [r[label]["p99_ms"] for r in results], 0.4, label="p99")
        ax.set_xticks(x, names)
        ax.set_yscale("log")
        ax.set_ylabel("ms / query (log)")
        ax.set_title(f"{label} query latency")
        ax.legend()
    axes[2].bar(names, [r["index_vectors_per_second"] for r in results])
    axes[2].set_title("indexing throughput (vectors/s)")
    fig.suptitle(f"{results[0]['points']:,} x {DIM} float32, cosine, k={K}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def measure(points: int, queries_count: int) -> list[dict]:
    """Both engines on the same vectors, queries and exact ground truth."""
    rng = np.random.default_rng(7)
    vectors, cluster = clustered_vectors(points, rng)
    labels = cluster % 10
    payloads = [{"label": int(label), "year": int(1950 + i % 70)} for i, label in enumerate(labels)]
    queries, _ = clustered_vectors(queries_count, np.random.default_rng(8))
    truth = exact_top_k(vectors, queries, None)
    truth_filtered = exact_top_k(vectors, queries, labels == FILTER["label"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        engines = {
            "edge (qdrant-edge-py 0.9, HNSW)": lambda: EdgeEngine.open(Path(tmp) / "edge"),
            "local (qdrant-client 1.20 local mode, exact)": lambda: QdrantEngine.local(Path(tmp) / "local"),
        }
        for name, make in engines.items():
            results.append(
                run_engine(name, VectorStore(make()), vectors, payloads, queries, truth, truth_filtered)
            )
    return results


def as_result(engines: list[dict]) -> dict[str, Any]:
    """The measurements in the shared result schema (bench/README.md); the raw dict stays under ``data``."""
    edge, local = engines
    result = new_result(
        NAME,
        "Embedded Qdrant engines: edge (HNSW) vs local mode (exact)",
        f"{edge['points']:,} x {DIM} float32 clustered vectors, cosine, k={K}, payload filter {FILTER}; "
        "the same data, queries and exact numpy ground truth for both engines, one after the other. "
        "Indexing includes the HNSW build; recall@10 is against brute force.",
    )
    add_ratio(
        result,
        "local / edge p50 (unfiltered)",
        local["unfiltered"]["p50_ms"],
        edge["unfiltered"]["p50_ms"],
        "how many times faster edge answers an unfiltered query",
    )
    add_ratio(
        result,
        "local / edge p50 (filtered)",
        local["filtered"]["p50_ms"],
        edge["filtered"]["p50_ms"],
        "the same with a payload filter",
    )
    add_ratio(
        result,
        "edge / local indexing",
        edge["index_vectors_per_second"],
        local["index_vectors_per_second"],
        "how many times faster edge indexes",
    )
    add_table(
        result,
        "Latency (ms per query), recall@10 and indexing",
        [
            "engine",
            "points",
            "build s",
            "vectors/s",
            "p50",
            "p99",
            "recall",
            "filtered p50",
            "filtered p99",
            "filtered recall",
        ],
        [
            [
                r["engine"],
                r["points"],
                r["build_seconds"],
                r["index_vectors_per_second"],
                r["unfiltered"]["p50_ms"],
                r["unfiltered"]["p99_ms"],
                r["unfiltered"]["recall_at_10"],
                r["filtered"]["p50_ms"],
                r["filtered"]["p99_ms"],
                r["filtered"]["recall_at_10"],
            ]
            for r in engines
        ],
    )
    add_table(
        result,
        "Recall@10 and p50 as the search-time hnsw_ef grows (IndexSpec.hnsw_ef)",
        ["engine", "hnsw_ef", "p50 ms", "recall@10"],
        [
            [r["engine"], s["hnsw_ef"], s["p50_ms"], s["recall_at_10"]]
            for r in engines
            for s in r["recall_vs_hnsw_ef"]
        ],
    )
    plot(engines, RESULTS_DIR / f"{NAME}.png")
    result["plots"] = [f"{NAME}.png"]
    result["data"] = {"dim": DIM, "k": K, "filter": FILTER, "results": engines}
    return result


def benchmark(quick: bool) -> dict[str, Any]:
    """Registry entry (``python -m bench --only qdrant``)."""
    points, queries = QUICK_SIZE if quick else FULL_SIZE
    return as_result(measure(points, queries))


def main() -> None:
    from bench.machine import describe_machine
    from bench.run import record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=FULL_SIZE[0])
    parser.add_argument("--queries", type=int, default=FULL_SIZE[1])
    args = parser.parse_args()
    command = " ".join([".venv/bin/python", "bench/qdrant_bench.py", *sys.argv[1:]])
    quick = (args.points, args.queries) != FULL_SIZE
    record(NAME, lambda: as_result(measure(args.points, args.queries)), quick, command, describe_machine())
    print(f"wrote {RESULTS_DIR / 'qdrant.json'} and {RESULTS_DIR / 'qdrant.png'}")


if __name__ == "__main__":
    main()
