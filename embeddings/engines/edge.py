"""qdrant-edge engine: Qdrant's own storage and HNSW index running inside this process.

Edge has shards, not collections: each collection is one shard folder. What Qdrant's server
keeps for us, this engine keeps in small JSON files written atomically (temp file + rename):
``<root>/<name>/metadata.json`` per collection and ``<root>/aliases.json`` for the alias map
(an alias switch is one rename, so a reader sees the old map or the new one). Shards lock their
folder, so engines are cached per root for the whole process.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from embeddings.errors import CollectionNotFoundError, EmbeddingsError, StoreUnavailableError
from embeddings.filters import Condition, Match, MatchAny, Range
from embeddings.records import INT8_QUANTILE, IndexSpec, PayloadSchema, SearchHit
from modelyard.fsutil import write_json_atomically

_DISTANCES = {"cosine": edge.Distance.Cosine, "dot": edge.Distance.Dot, "euclid": edge.Distance.Euclid}
_SCHEMAS = {
    "keyword": edge.PayloadSchemaType.Keyword,
    "integer": edge.PayloadSchemaType.Integer,
    "float": edge.PayloadSchemaType.Float,
    "bool": edge.PayloadSchemaType.Bool,
}
_ALIASES = "aliases.json"
_METADATA = "metadata.json"
_SHARD = "shard"
_engines: dict[Path, EdgeEngine] = {}
_engines_lock = threading.Lock()


def to_filter(conditions: Sequence[Condition], exclude_ids: Sequence[int]) -> edge.Filter | None:
    must = [_field_condition(condition) for condition in conditions]
    must_not = [edge.HasIdCondition({int(i) for i in exclude_ids})] if len(exclude_ids) else []
    return edge.Filter(must=must or None, must_not=must_not or None) if must or must_not else None


def _field_condition(condition: Condition) -> edge.FieldCondition:
    if isinstance(condition, Match):
        return edge.FieldCondition(condition.key, match=edge.MatchValue(condition.value))
    if isinstance(condition, MatchAny):
        return edge.FieldCondition(condition.key, match=edge.MatchAny(list(condition.values)))
    if isinstance(condition, Range):
        bounds = edge.RangeFloat(gte=condition.gte, gt=condition.gt, lte=condition.lte, lt=condition.lt)
        return edge.FieldCondition(condition.key, range=bounds)
    raise TypeError(f"unknown condition {condition!r}")


class EdgeEngine:
    """Collections as edge shards under one root folder, with a persisted alias map."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self._shards: dict[str, edge.EdgeShard] = {}
        self._lock = threading.RLock()
        self._aliases: dict[str, str] = self._read_aliases()

    @classmethod
    def open(cls, root: Path) -> EdgeEngine:
        """The process's one engine for ``root``."""
        root = root.expanduser().resolve()
        with _engines_lock:
            if root not in _engines:
                root.mkdir(parents=True, exist_ok=True)
                _engines[root] = cls(root)
            return _engines[root]

    def _read_aliases(self) -> dict[str, str]:
        path = self.root / _ALIASES
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _shard(self, name: str) -> edge.EdgeShard:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        with self._lock:
            if name not in self._shards:
                folder = self.root / name / _SHARD
                if not (self.root / name / _METADATA).is_file():
                    raise CollectionNotFoundError(f"no collection {name!r} in {self.location}")
                try:
                    self._shards[name] = edge.EdgeShard.load(str(folder))
                except Exception as exc:  # edge raises a plain Exception when the WAL is locked
                    raise StoreUnavailableError(
                        f"the embedded Qdrant store {folder} cannot be opened: {exc}",
                        hint="stop the other process that uses it (one process owns the embedded store), "
                        "or set MODELYARD_QDRANT_URL to a Qdrant server",
                    ) from exc
            return self._shards[name]

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"*/{_METADATA}"))

    def create(self, name: str, dim: int, spec: IndexSpec, metadata: dict[str, Any]) -> None:
        quantization = None
        if spec.quantization == "int8":
            quantization = edge.ScalarQuantizationConfig(
                edge.ScalarType.Int8, quantile=INT8_QUANTILE, always_ram=spec.quantization_always_ram
            )
        config = edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(size=dim, distance=_DISTANCES[spec.distance]),
            hnsw_config=edge.HnswIndexConfig(
                m=spec.m, ef_construct=spec.ef_construct, full_scan_threshold=spec.full_scan_threshold_kb
            ),
            quantization_config=quantization,
        )
        with self._lock:
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=False)
            self._shards[name] = edge.EdgeShard.create(str(folder / _SHARD), config)
            # metadata last: a folder without it is not a collection (a crash mid-create leaves none)
            write_json_atomically(folder / _METADATA, metadata, indent=1)

    def drop(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            (self.root / name / _METADATA).unlink(missing_ok=True)
            shutil.rmtree(self.root / name, ignore_errors=True)

    def copy_collection(self, name: str, root: Path) -> None:
        """Copy a complete collection to ``<root>/<name>`` without opening its shard (a serving
        process may hold its lock), so it can be read or measured apart from the live one."""
        if not self.metadata(name).get("complete"):
            raise EmbeddingsError(f"{name} is incomplete", hint="finish its build before copying it")
        shutil.copytree(self.root / name, root / name)

    def metadata(self, name: str) -> dict[str, Any]:
        path = self.root / name / _METADATA
        if not path.is_file():
            raise CollectionNotFoundError(f"no collection {name!r} in {self.location}")
        return json.loads(path.read_text(encoding="utf-8"))

    def update_metadata(self, name: str, updates: dict[str, Any]) -> None:
        with self._lock:
            write_json_atomically(self.root / name / _METADATA, {**self.metadata(name), **updates}, indent=1)

    def create_payload_index(self, name: str, field: str, schema: PayloadSchema) -> None:
        self._shard(name).update(edge.UpdateOperation.create_field_index(field, _SCHEMAS[schema]))

    def upsert(self, name: str, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        rows = vectors.tolist()
        points = [
            edge.Point(int(i), row, payload) for i, row, payload in zip(ids, rows, payloads, strict=True)
        ]
        self._shard(name).update(edge.UpdateOperation.upsert_points(points))

    def present_ids(self, name: str, ids: Sequence[int]) -> set[int]:
        found = self._shard(name).retrieve([int(i) for i in ids], with_payload=False, with_vector=False)
        return {int(record.id) for record in found}

    def count(self, name: str) -> int:
        return self._shard(name).info().points_count

    def finish(self, name: str) -> None:
        """Build the HNSW graph now (not on the first searches) and flush to disk."""
        shard = self._shard(name)
        shard.optimize()
        shard.flush()

    def search(
        self,
        name: str,
        vector: np.ndarray,
        k: int,
        conditions: Sequence[Condition],
        exclude_ids: Sequence[int],
        score_threshold: float | None,
        spec: IndexSpec,
        exact: bool = False,
    ) -> list[SearchHit]:
        quantization = (
            edge.QuantizationSearchParams(rescore=spec.rescore, oversampling=spec.oversampling)
            if spec.quantization
            else None
        )
        request = edge.QueryRequest(
            limit=k,
            query=edge.Query.Nearest(vector.tolist()),
            filter=to_filter(conditions, exclude_ids),
            score_threshold=score_threshold,
            params=edge.SearchParams(hnsw_ef=spec.hnsw_ef, exact=exact, quantization=quantization),
            with_payload=True,
        )
        return [
            SearchHit(int(p.id), float(p.score), dict(p.payload or {}))
            for p in self._shard(name).query(request)
        ]

    def retrieve(self, name: str, ids: Sequence[int]) -> list[tuple[int, np.ndarray, dict[str, Any]]]:
        found = self._shard(name).retrieve([int(i) for i in ids], with_payload=True, with_vector=True)
        return [(int(r.id), np.asarray(r.vector, dtype=np.float32), dict(r.payload or {})) for r in found]

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def point_alias(self, alias: str, name: str) -> None:
        with self._lock:
            if not (self.root / name / _METADATA).is_file():
                raise CollectionNotFoundError(f"no collection {name!r} in {self.location}")
            updated = {**self._aliases, alias: name}
            write_json_atomically(self.root / _ALIASES, updated, indent=1)
            self._aliases = updated

    def close(self) -> None:
        """Shards stay open for the process: the engine is cached per root."""
