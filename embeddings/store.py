"""VectorStore: versioned collections per model, an alias on the live one, filtered search.

Every (model, version) gets its own collection ``<model>__v<version>``; the alias ``<model>``
points at the live one. A build writes the new collection completely, verifies it, and only
then moves the alias in one atomic step, so searches never see a half-built index and never
fail during a switch (they resolve the alias to a concrete collection once, and old
collections are kept for rollback until ``gc``).

Failure policy: an exception while ingesting (the batch iterator, a bad batch, Ctrl-C) leaves
the partial collection marked incomplete, so the next ``build_version`` of that version resumes
and skips ids already present; a failed verification deletes the new collection (its content
is wrong, resuming would keep it wrong). In both cases the alias never moves.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from embeddings.engines.base import Engine
from embeddings.errors import (
    BatchError,
    CollectionNotFoundError,
    DimensionMismatchError,
    EmbeddingsError,
    IndexVerificationError,
    PointNotFoundError,
    VersionMismatchError,
)
from embeddings.filters import parse_filter
from embeddings.naming import collection_name, parse_collection_name, validate_model
from embeddings.records import CollectionInfo, IndexSpec, PayloadSchema, SearchHit, StoredPoints
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)

Batch = tuple[list[int], np.ndarray, list[dict[str, Any]]]
EmbeddedEngine = Literal["edge", "local"]
DEFAULT_EMBEDDED: EmbeddedEngine = "edge"
"""The embedded engine when no server is configured: edge measured faster (bench/qdrant_bench.py)."""
MAX_K = 1000
VERIFY_SAMPLES = 5


class VectorStore:
    """The platform's embedding index; one per process per embedded folder (engines are shared)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._metadata: dict[str, dict[str, Any]] = {}
        self._metadata_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, embedded: EmbeddedEngine = DEFAULT_EMBEDDED) -> VectorStore:
        """A Qdrant server when ``settings.qdrant_url`` is set, else the embedded engine under
        ``settings.qdrant_path`` (``edge``: HNSW in-process; ``local``: qdrant-client local mode)."""
        if settings.qdrant_url:
            # lazy: each engine loads its client library only when chosen
            from embeddings.engines.qdrant import QdrantEngine

            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            return cls(QdrantEngine.server(settings.qdrant_url, key))
        if embedded == "edge":
            # lazy: each engine loads its client library only when chosen
            from embeddings.engines.edge import EdgeEngine

            return cls(EdgeEngine.open(settings.qdrant_path / "edge"))
        # lazy: each engine loads its client library only when chosen
        from embeddings.engines.qdrant import QdrantEngine

        return cls(QdrantEngine.local(settings.qdrant_path / "local"))

    # ---- building -------------------------------------------------------------------------

    def build_version(
        self,
        model: str,
        version: int,
        dim: int,
        batches: Iterable[Batch],
        *,
        total: int | None,
        spec: IndexSpec = IndexSpec(),
        payload_indexes: dict[str, PayloadSchema] | None = None,
        progress: bool = True,
        make_live: bool = True,
    ) -> str:
        """Index ``batches`` into ``<model>__v<version>``, verify it, then make it live (unless
        ``make_live`` is False: a canary searches its own collection, promote moves the alias).

        Idempotent and resumable: ids are the caller's (deterministic), ids already present
        are skipped, and a version already complete is only re-verified and made live.
        Returns the collection name.
        """
        name = collection_name(model, version)
        if dim < 1:
            raise EmbeddingsError(f"bad dimension {dim}", hint="pass the embedding size, e.g. 128")
        metadata = self._open_for_build(name, model, version, dim, spec)
        if metadata.get("complete"):
            self._verify_count(name, total if total is not None else metadata["points"])
            event(log, "index_already_complete", collection=name)
        else:
            for field, schema in (payload_indexes or {}).items():
                self.engine.create_payload_index(name, field, schema)
            samples = self._ingest(name, dim, batches, total, progress)
            self.engine.finish(name)
            self._verify_or_drop(name, total, samples)
            self.engine.update_metadata(name, {"complete": True, "points": self.engine.count(name)})
        if make_live:
            self.switch_alias(model, version)
        return name

    def _open_for_build(
        self, name: str, model: str, version: int, dim: int, spec: IndexSpec
    ) -> dict[str, Any]:
        if name not in self.engine.names():
            metadata = {
                "model": model,
                "version": version,
                "dim": dim,
                "complete": False,
                "points": 0,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "spec": spec.as_metadata(),
            }
            self.engine.create(name, dim, spec, metadata)
            event(log, "index_created", collection=name, dim=dim)
            return metadata
        metadata = self.engine.metadata(name)
        if metadata.get("dim") != dim:
            raise DimensionMismatchError(
                f"{name} exists with dimension {metadata.get('dim')}, the build brings {dim}",
                hint=f"a version has one embedding size: drop_version({model!r}, {version}) to rebuild it",
            )
        event(log, "index_resumed", collection=name, points=self.engine.count(name))
        return metadata

    def _ingest(
        self, name: str, dim: int, batches: Iterable[Batch], total: int | None, progress: bool
    ) -> dict[int, np.ndarray]:
        """Upsert every batch (skipping ids already there); return a few (id, vector) to verify."""
        rng = random.Random(0)
        sample_ids: list[int] = []
        sample_vectors: list[np.ndarray] = []
        seen = 0
        with tqdm(total=total, desc=f"indexing {name}", unit="vec", disable=not progress) as bar:
            for ids, vectors, payloads in batches:
                vectors = self._check_batch(name, dim, ids, vectors, payloads)
                present = self.engine.present_ids(name, ids)
                todo = [row for row, point_id in enumerate(ids) if int(point_id) not in present]
                if todo:
                    self.engine.upsert(
                        name, [ids[r] for r in todo], vectors[todo], [payloads[r] for r in todo]
                    )
                for row, point_id in enumerate(ids):  # reservoir sample: uniform over all points
                    seen += 1
                    if len(sample_ids) < VERIFY_SAMPLES:
                        sample_ids.append(int(point_id))
                        sample_vectors.append(vectors[row])
                    elif (slot := rng.randrange(seen)) < VERIFY_SAMPLES:
                        sample_ids[slot], sample_vectors[slot] = int(point_id), vectors[row]
                bar.update(len(ids))
        samples = dict(zip(sample_ids, sample_vectors, strict=True))
        return samples

    @staticmethod
    def _check_batch(
        name: str, dim: int, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]
    ) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise DimensionMismatchError(
                f"{name}: a batch has vectors of shape {vectors.shape}, the collection takes (n, {dim})",
                hint="the embedding size must match the dim passed to build_version",
            )
        if not len(ids) == len(vectors) == len(payloads):
            raise BatchError(
                f"{name}: a batch has {len(ids)} ids, {len(vectors)} vectors, {len(payloads)} payloads",
                hint="a source must yield equally long ids, vectors and payloads",
            )
        if not np.isfinite(vectors).all():
            raise BatchError(
                f"{name}: a batch holds NaN or infinite vectors", hint="check the encoder's output"
            )
        return vectors

    def _verify_count(self, name: str, expected: int) -> None:
        points = self.engine.count(name)
        if points != expected:
            raise IndexVerificationError(
                f"{name} holds {points} points, {expected} expected",
                hint="the source changed size or ids collide; rebuild the version",
            )

    def _verify_or_drop(self, name: str, total: int | None, samples: dict[int, np.ndarray]) -> None:
        """Check the point count and that sampled vectors find themselves; drop the collection if not."""
        try:
            if total is not None:
                self._verify_count(name, total)
            spec = IndexSpec.from_metadata(self.engine.metadata(name)["spec"])
            for point_id, vector in samples.items():
                hits = self.engine.search(name, vector, 10, (), (), None, spec)
                if point_id not in {hit.id for hit in hits} and not self._is_duplicate(name, hits, vector):
                    raise IndexVerificationError(
                        f"{name}: indexed point {point_id} is not among the 10 nearest to its own vector",
                        hint="raise IndexSpec.hnsw_ef / ef_construct, or check the engine",
                    )
        except IndexVerificationError:
            self.engine.drop(name)
            event(log, "index_verification_failed", level=logging.ERROR, collection=name)
            raise

    def _is_duplicate(self, name: str, hits: list[SearchHit], vector: np.ndarray) -> bool:
        """An exact duplicate vector can outrank the sampled point itself; that is not a failure."""
        if not hits:
            return False
        stored = self.engine.retrieve(name, [hits[0].id])
        spec_distance = self.engine.metadata(name)["spec"]["distance"]
        target = vector / np.linalg.norm(vector) if spec_distance == "cosine" else vector
        return bool(stored) and np.allclose(stored[0][1], target, atol=1e-5)

    # ---- versions and aliases -------------------------------------------------------------

    def switch_alias(self, model: str, version: int) -> None:
        """Make ``version`` live: the alias ``model`` moves to it in one atomic step."""
        name = collection_name(model, version)
        metadata = self._collection_metadata(name)
        if not metadata.get("complete"):
            raise EmbeddingsError(
                f"{name} is incomplete (an interrupted build)",
                hint=f"finish it: yard index {model} --version {version}",
            )
        previous = self.live_version(model)
        self.engine.point_alias(model, name)
        event(log, "alias_switched", model=model, version=version, previous=previous)

    def live_version(self, model: str) -> int | None:
        target = self.engine.aliases().get(validate_model(model))
        parsed = parse_collection_name(target) if target else None
        return parsed[1] if parsed else None

    def complete_points(self, model: str, version: int) -> int | None:
        """Points of ``version``'s collection if its build completed, else None. Reads the recorded
        metadata only, never the shard, whose lock a serving transformer may hold."""
        name = collection_name(model, version)
        if name not in self.engine.names():
            return None
        metadata = self.engine.metadata(name)
        return int(metadata["points"]) if metadata.get("complete") else None

    def collections(self, model: str) -> list[CollectionInfo]:
        """Every version of ``model`` present, oldest first."""
        live = self.engine.aliases().get(validate_model(model))
        infos = []
        for name in self.engine.names():
            parsed = parse_collection_name(name)
            if parsed is None or parsed[0] != model:
                continue
            metadata = self.engine.metadata(name)
            infos.append(
                CollectionInfo(
                    name=name,
                    model=model,
                    version=parsed[1],
                    dim=metadata["dim"],
                    # a complete build's count is recorded: no shard opened (a server may hold it)
                    points=metadata["points"] if metadata.get("complete") else self.engine.count(name),
                    complete=bool(metadata.get("complete")),
                    live=name == live,
                    created=metadata.get("created", ""),
                    spec=IndexSpec.from_metadata(metadata.get("spec", {})),
                )
            )
        return sorted(infos, key=lambda info: info.version)

    def gc(self, model: str, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` complete versions (the live one always counts as
        kept); incomplete builds newer than the live version are resumable and kept. Returns
        the deleted names."""
        if keep < 1:
            raise EmbeddingsError(f"keep={keep}", hint="keep at least 1 (the live version)")
        infos = self.collections(model)
        live = next((info for info in infos if info.live), None)
        kept = [info.name for info in infos if info.live]
        for info in reversed(infos):
            if info.complete and not info.live and len(kept) < keep:
                kept.append(info.name)
        doomed = [
            info.name
            for info in infos
            if info.name not in kept and (info.complete or live is None or info.version < live.version)
        ]
        for name in doomed:
            self.engine.drop(name)
            with self._metadata_lock:
                self._metadata.pop(name, None)
        event(log, "index_gc", model=model, keep=keep, deleted=doomed)
        return doomed

    def drop_version(self, model: str, version: int) -> None:
        """Delete one version (never the live one)."""
        name = collection_name(model, version)
        if self.live_version(model) == version:
            raise EmbeddingsError(f"{name} is live", hint="switch the alias to another version first")
        self.engine.drop(name)
        with self._metadata_lock:
            self._metadata.pop(name, None)

    # ---- reading --------------------------------------------------------------------------

    def resolve(self, model_or_collection: str) -> str:
        """The concrete collection behind an alias (or the collection itself)."""
        target = self.engine.aliases().get(model_or_collection)
        if target is not None:
            return target
        if model_or_collection in self.engine.names():
            return model_or_collection
        raise CollectionNotFoundError(
            f"no collection or alias {model_or_collection!r} in {self.engine.location}",
            hint=f"index it first: yard index {model_or_collection.split('__v')[0]}",
        )

    def _collection_metadata(self, name: str) -> dict[str, Any]:
        """Metadata of a collection; cached once complete (it never changes after that)."""
        cached = self._metadata.get(name)
        if cached is not None:
            return cached
        metadata = self.engine.metadata(name)
        if metadata.get("complete"):
            with self._metadata_lock:
                self._metadata[name] = metadata
        return metadata

    def search(
        self,
        model_or_collection: str,
        vector: np.ndarray,
        k: int = 10,
        *,
        filter: dict | None = None,
        exclude_ids: Sequence[int] = (),
        score_threshold: float | None = None,
        expect_version: int | None = None,
    ) -> list[SearchHit]:
        """The ``k`` nearest points to ``vector`` that pass ``filter``, best first.

        ``expect_version``: the model version that produced ``vector``; a collection built by
        another version raises VersionMismatchError instead of returning meaningless neighbours.
        """
        conditions = parse_filter(filter)
        if not 1 <= k <= MAX_K:
            raise EmbeddingsError(f"k={k} is out of range", hint=f"ask for 1 to {MAX_K} results")
        name = self.resolve(model_or_collection)
        metadata = self._collection_metadata(name)
        if expect_version is not None and metadata["version"] != expect_version:
            raise VersionMismatchError(
                f"the query embedding comes from {metadata['model']} v{expect_version} but "
                f"{model_or_collection!r} was built by v{metadata['version']} ({name})",
                hint=f"embed with v{metadata['version']}, or index v{expect_version}: "
                f"yard index {metadata['model']} --version {expect_version}",
            )
        query = self._check_query(name, metadata["dim"], vector)
        spec = IndexSpec.from_metadata(metadata.get("spec", {}))
        return self.engine.search(name, query, k, conditions, exclude_ids, score_threshold, spec)

    @staticmethod
    def _check_query(name: str, dim: int, vector: np.ndarray) -> np.ndarray:
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim == 2 and query.shape[0] == 1:
            query = query[0]
        if query.ndim != 1 or query.size != dim:
            raise DimensionMismatchError(
                f"{name} holds {dim}-dim vectors, the query has shape {np.shape(vector)}",
                hint=f"send one {dim}-dim embedding from the model version that built {name}",
            )
        if not np.isfinite(query).all():
            raise EmbeddingsError(
                "the query vector holds NaN or infinite values", hint="check the encoder output"
            )
        return query

    def retrieve(self, model_or_collection: str, ids: Sequence[int]) -> StoredPoints:
        """Stored vectors and payloads of ``ids`` (for "more like this"), in the order asked."""
        name = self.resolve(model_or_collection)
        found = {point_id: (vector, payload) for point_id, vector, payload in self.engine.retrieve(name, ids)}
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise PointNotFoundError(
                f"{name} has no points with ids {missing[:10]}", hint="use ids from a search hit"
            )
        dim = self._collection_metadata(name)["dim"]
        vectors = np.stack([found[int(i)][0] for i in ids]) if ids else np.empty((0, dim), np.float32)
        return StoredPoints(
            ids=[int(i) for i in ids], vectors=vectors, payloads=[found[int(i)][1] for i in ids]
        )
