"""The vector store against real embedded Qdrant engines (qdrant-edge and qdrant-client local
mode) in temporary folders: building, filtered search, atomic alias switches, failure policy."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from embeddings import (
    CollectionNotFoundError,
    DimensionMismatchError,
    FilterError,
    IndexSpec,
    IndexVerificationError,
    PointNotFoundError,
    StoreUnavailableError,
    VectorStore,
    VersionMismatchError,
)
from embeddings.engines.edge import EdgeEngine
from embeddings.engines.qdrant import QdrantEngine
from modelyard.settings import Settings

pytestmark = pytest.mark.integration

DIM, POINTS, BATCH = 16, 600, 200
VECTORS = np.random.default_rng(0).normal(size=(POINTS, DIM)).astype(np.float32)


def payload(i: int, **extra: object) -> dict:
    return {"label": i % 10, "year": 1900 + i % 100, **extra}


def batches(
    vectors: np.ndarray = VECTORS, fail_after: int | None = None, **extra: object
) -> Iterator[tuple[list[int], np.ndarray, list[dict]]]:
    for start in range(0, len(vectors), BATCH):
        if fail_after is not None and start >= fail_after:
            raise RuntimeError("encoder crashed")
        ids = list(range(start, min(start + BATCH, len(vectors))))
        yield ids, vectors[start : start + BATCH], [payload(i, **extra) for i in ids]


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VectorStore:
    engine = (
        EdgeEngine.open(tmp_path / "edge")
        if request.param == "edge"
        else QdrantEngine.local(tmp_path / "local")
    )
    return VectorStore(engine)


@pytest.fixture
def built(store: VectorStore) -> VectorStore:
    store.build_version(
        "items", 1, DIM, batches(version=1), total=POINTS, payload_indexes={"label": "integer"}
    )
    return store


def exact_neighbours(query: np.ndarray, mask: np.ndarray, k: int) -> list[int]:
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    scores = np.where(mask, unit @ (query / np.linalg.norm(query)), -np.inf)
    return [int(i) for i in np.argsort(-scores)[:k] if np.isfinite(scores[i])]


def test_build_makes_the_version_live_and_each_point_finds_itself(built: VectorStore) -> None:
    assert built.live_version("items") == 1
    [info] = built.collections("items")
    assert (info.name, info.points, info.complete, info.live, info.dim) == (
        "items__v1",
        POINTS,
        True,
        True,
        DIM,
    )
    for i in (0, 123, POINTS - 1):
        top = built.search("items", VECTORS[i], 1)[0]
        assert top.id == i and top.score == pytest.approx(1.0, abs=1e-5)
        assert top.payload == payload(i, version=1)
    assert built.search("items__v1", VECTORS[5], 1)[0].id == 5


@pytest.mark.parametrize(
    ("flt", "keep"),
    [
        ({"label": 3}, lambda i: i % 10 == 3),
        ({"label": [1, 2]}, lambda i: i % 10 in (1, 2)),
        ({"year": {"gte": 1990, "lt": 1995}}, lambda i: 90 <= i % 100 < 95),
        ({"label": 4, "year": {"gt": 1950}}, lambda i: i % 10 == 4 and i % 100 > 50),
    ],
)
def test_filtered_search_returns_the_exact_filtered_neighbours(built: VectorStore, flt: dict, keep) -> None:
    mask = np.array([keep(i) for i in range(POINTS)])
    query = VECTORS[7] + 0.1
    hits = built.search("items", query, 10, filter=flt)
    assert [hit.id for hit in hits] == exact_neighbours(query, mask, 10)


def test_exclude_ids_and_score_threshold(built: VectorStore) -> None:
    hits = built.search("items", VECTORS[42], 5, exclude_ids=[42, 17])
    assert {42, 17}.isdisjoint(hit.id for hit in hits) and len(hits) == 5
    threshold = 0.5
    above = built.search("items", VECTORS[42], 100, score_threshold=threshold)
    expected = [
        i for i in exact_neighbours(VECTORS[42], np.ones(POINTS, bool), 100) if _cos(42, i) >= threshold
    ]
    assert [hit.id for hit in above] == expected
    assert all(hit.score >= threshold for hit in above)


def _cos(a: int, b: int) -> float:
    x, y = VECTORS[a], VECTORS[b]
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_retrieve_returns_vectors_and_payloads_in_order(built: VectorStore) -> None:
    stored = built.retrieve("items", [9, 3])
    assert stored.ids == [9, 3] and stored.payloads == [payload(9, version=1), payload(3, version=1)]
    expected = VECTORS[[9, 3]] / np.linalg.norm(VECTORS[[9, 3]], axis=1, keepdims=True)
    np.testing.assert_allclose(stored.vectors, expected, atol=1e-5)  # cosine stores unit vectors
    with pytest.raises(PointNotFoundError, match="99999"):
        built.retrieve("items", [1, 99999])


def test_alias_switches_never_fail_a_concurrent_search(built: VectorStore) -> None:
    built.build_version("items", 2, DIM, batches(version=2), total=POINTS)
    failures: list[BaseException] = []
    versions_seen: set[int] = set()
    stop = threading.Event()

    def search_forever() -> None:
        while not stop.is_set():
            try:
                versions_seen.add(built.search("items", VECTORS[1], 3)[0].payload["version"])
            except BaseException as exc:  # noqa: BLE001 - any failure is what this test counts
                failures.append(exc)

    searcher = threading.Thread(target=search_forever)
    searcher.start()
    try:
        for switch in range(60):
            built.switch_alias("items", 1 + switch % 2)
    finally:
        stop.set()
        searcher.join()
    assert failures == []
    assert versions_seen == {1, 2}


def test_a_failed_reindex_keeps_the_old_alias_and_a_rerun_resumes(built: VectorStore) -> None:
    with pytest.raises(RuntimeError, match="encoder crashed"):
        built.build_version("items", 2, DIM, batches(fail_after=2 * BATCH, run=1), total=POINTS)
    assert built.live_version("items") == 1
    assert built.search("items", VECTORS[0], 1)[0].payload["version"] == 1
    partial = {info.version: info for info in built.collections("items")}[2]
    assert (partial.complete, partial.points) == (False, 2 * BATCH)

    built.build_version("items", 2, DIM, batches(run=2), total=POINTS)
    assert built.live_version("items") == 2
    runs = [p["run"] for p in built.retrieve("items", range(POINTS)).payloads]
    assert runs == [1] * (2 * BATCH) + [2] * (POINTS - 2 * BATCH)  # present ids were skipped


def test_a_failed_verification_drops_the_new_collection(built: VectorStore) -> None:
    with pytest.raises(IndexVerificationError, match="600 points, 601 expected"):
        built.build_version("items", 2, DIM, batches(), total=POINTS + 1)
    assert built.live_version("items") == 1
    assert [info.version for info in built.collections("items")] == [1]


def test_building_a_complete_version_again_is_idempotent(built: VectorStore) -> None:
    built.build_version("items", 2, DIM, batches(), total=POINTS)
    built.switch_alias("items", 1)
    assert built.build_version("items", 2, DIM, iter(()), total=POINTS) == "items__v2"
    assert built.live_version("items") == 2


def test_dimension_mismatch_on_search_and_on_build(built: VectorStore) -> None:
    with pytest.raises(DimensionMismatchError, match="16-dim"):
        built.search("items", np.ones(DIM + 1, np.float32))
    with pytest.raises(DimensionMismatchError):
        built.build_version("items", 1, DIM + 1, batches(), total=POINTS)
    with pytest.raises(DimensionMismatchError):
        built.build_version("items", 2, DIM + 1, batches(), total=POINTS)
    assert built.live_version("items") == 1


def test_version_mismatch_is_refused(built: VectorStore) -> None:
    assert built.search("items", VECTORS[0], 1, expect_version=1)[0].id == 0
    with pytest.raises(VersionMismatchError, match="v2 but 'items' was built by v1"):
        built.search("items", VECTORS[0], 1, expect_version=2)


def test_gc_keeps_the_live_version_and_the_newest(built: VectorStore) -> None:
    for version in (2, 3, 4):
        built.build_version("items", version, DIM, batches(), total=POINTS)
    built.switch_alias("items", 2)  # a rollback: the live version is not the newest
    assert sorted(built.gc("items", keep=2)) == ["items__v1", "items__v3"]
    assert [(i.version, i.live) for i in built.collections("items")] == [(2, True), (4, False)]
    assert built.search("items", VECTORS[0], 1)[0].id == 0


def test_unknown_names_and_bad_filters_are_typed_errors(built: VectorStore) -> None:
    with pytest.raises(CollectionNotFoundError, match="ranking"):
        built.search("ranking", VECTORS[0])
    with pytest.raises(FilterError):
        built.search("items", VECTORS[0], filter={"year": {"after": 1990}})


def test_an_unreachable_server_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = VectorStore(QdrantEngine.server(f"http://127.0.0.1:{port}", None, timeout=2))
    with pytest.raises(StoreUnavailableError) as caught:
        store.search("items", VECTORS[0])
    assert caught.value.exit_code == 5 and "MODELYARD_QDRANT_URL" in caught.value.hint


class _Answers(http.server.BaseHTTPRequestHandler):
    """Stands in for what sits at a Qdrant URL (a proxy, a server refusing the key): one status."""

    status = 503

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
@pytest.mark.parametrize(
    ("status", "hint"),
    [(503, "MODELYARD_QDRANT_URL"), (502, "MODELYARD_QDRANT_URL"), (401, "MODELYARD_QDRANT_API_KEY")],
)
def test_a_server_that_cannot_serve_is_store_unavailable(status: int, hint: str) -> None:
    """No Qdrant server binary runs here (docs/embeddings.md): the HTTP statuses a proxy or a
    server refusing the key answer are mapped, so serving answers 503 with the fix, not 500."""
    handler = type("Answers", (_Answers,), {"status": status})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        store = VectorStore(
            QdrantEngine.server(f"http://127.0.0.1:{server.server_address[1]}", "key", timeout=2)
        )
        try:
            with pytest.raises(StoreUnavailableError, match=f"HTTP {status}") as caught:
                store.build_version("items", 1, DIM, batches(), total=POINTS)
        finally:
            server.shutdown()
    assert caught.value.exit_code == 5 and hint in caught.value.hint


def test_from_settings_uses_the_embedded_store_under_qdrant_path(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    store = VectorStore.from_settings(settings)
    store.build_version("items", 1, DIM, batches(), total=POINTS, progress=False)
    assert (settings.qdrant_path / "edge" / "items__v1").is_dir()
    assert VectorStore.from_settings(settings).live_version("items") == 1  # shared engine, same process


def clustered(points: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Points around ``centres`` (neighbours close, clusters overlap), like trained embeddings."""
    return (centres[rng.integers(0, len(centres), points)] + 0.5 * rng.normal(size=(points, dim))).astype(
        np.float32
    )


def test_edge_int8_quantization_is_recorded_used_and_keeps_recall(tmp_path: Path) -> None:
    # 6000 x 512 float32 = 12 MB: over edge's indexing and full-scan thresholds, so the segment
    # is quantized and searched by HNSW (smaller collections are plain exact scans)
    points, dim, rng = 6000, 512, np.random.default_rng(1)
    centres = rng.normal(size=(50, dim)).astype(np.float32)
    vectors, queries = clustered(points, dim, rng, centres), clustered(40, dim, rng, centres)
    store = VectorStore(EdgeEngine.open(tmp_path))
    spec = IndexSpec(quantization="int8")
    store.build_version(
        "items", 1, dim, [(list(range(points)), vectors, [{}] * points)], total=points, spec=spec
    )

    [info] = store.collections("items")
    assert info.spec == spec
    engine_config = json.loads((tmp_path / "items__v1" / "shard" / "edge_config.json").read_text())
    assert engine_config["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}
    }

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    recalls, rescored_error, int8_error = [], 0.0, 0.0
    for row, query in enumerate(queries):
        hits = store.search("items", query, 10)
        recalls.append(len({hit.id for hit in hits} & set(np.argsort(-exact[row])[:10].tolist())) / 10)
        rescored_error = max(rescored_error, *(abs(hit.score - exact[row, hit.id]) for hit in hits))
        raw = store.engine.search("items__v1", query, 10, (), (), None, replace(spec, rescore=False))
        int8_error = max(int8_error, *(abs(hit.score - exact[row, hit.id]) for hit in raw))
    assert int8_error > 1e-3  # without re-scoring the scores are int8 approximations: quantization is on
    assert rescored_error < 1e-5  # re-scored with the original vectors
    assert np.mean(recalls) >= 0.97  # measured 1.0; without oversampling it is 0.94


def test_local_mode_drops_quantization_and_stays_exact(tmp_path: Path) -> None:
    """A divergence from a server: qdrant-client local mode keeps no quantization config."""
    engine = QdrantEngine.local(tmp_path)
    store = VectorStore(engine)
    store.build_version("items", 1, DIM, batches(), total=POINTS, spec=IndexSpec(quantization="int8"))
    assert store.collections("items")[0].spec.quantization == "int8"  # our metadata records it
    assert engine.client.get_collection("items__v1").config.quantization_config is None
    query = VECTORS[3] + 0.05
    hits = store.search("items", query, 10)
    assert [hit.id for hit in hits] == exact_neighbours(query, np.ones(POINTS, bool), 10)
