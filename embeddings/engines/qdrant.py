"""qdrant-client engine: the same code drives Qdrant's embedded local mode and a real server.

Local mode is exact brute force kept in memory and persisted under one folder that a file lock
gives to ONE client, so clients are cached per folder for the whole process (every store in
the process shares it). It ignores HNSW settings, payload indexes and quantization (it drops
the config: searches stay exact and unquantized), which a server honours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from embeddings.errors import CollectionNotFoundError, EmbeddingsError, StoreUnavailableError
from embeddings.filters import Condition, Match, MatchAny, Range
from embeddings.records import INT8_QUANTILE, IndexSpec, PayloadSchema, SearchHit

_DISTANCES = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "euclid": models.Distance.EUCLID}
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}
_UNAVAILABLE_STATUSES = (502, 503, 504)
"""A proxy or load balancer in front of a server that is down or starting: retry later, not a bug."""
_UNREACHABLE_HINT = "start the Qdrant server or fix MODELYARD_QDRANT_URL / MODELYARD_QDRANT_API_KEY"
_local_clients: dict[Path, QdrantClient] = {}
_local_lock = threading.Lock()


def local_client(path: Path) -> QdrantClient:
    """The process's one local-mode client for ``path`` (a second one would fail on the lock)."""
    path = path.expanduser().resolve()
    with _local_lock:
        client = _local_clients.get(path)
        if client is None:
            path.mkdir(parents=True, exist_ok=True)
            try:
                client = QdrantClient(path=str(path))
            except RuntimeError as exc:  # portalocker: another process holds the folder
                raise StoreUnavailableError(
                    f"the embedded Qdrant store {path} is used by another process",
                    hint="stop that process (one process owns the embedded store), or set "
                    "MODELYARD_QDRANT_URL to a Qdrant server",
                ) from exc
            _local_clients[path] = client
        return client


def to_filter(conditions: Sequence[Condition], exclude_ids: Sequence[int]) -> models.Filter | None:
    """The DSL's conditions (AND) plus excluded ids as one Qdrant filter."""
    must = [_field_condition(condition) for condition in conditions]
    must_not = [models.HasIdCondition(has_id=[int(i) for i in exclude_ids])] if len(exclude_ids) else []
    return models.Filter(must=must or None, must_not=must_not or None) if must or must_not else None


def _field_condition(condition: Condition) -> models.FieldCondition:
    if isinstance(condition, Match):
        return models.FieldCondition(key=condition.key, match=models.MatchValue(value=condition.value))
    if isinstance(condition, MatchAny):
        return models.FieldCondition(key=condition.key, match=models.MatchAny(any=list(condition.values)))
    if isinstance(condition, Range):
        bounds = {"gte": condition.gte, "gt": condition.gt, "lte": condition.lte, "lt": condition.lt}
        return models.FieldCondition(key=condition.key, range=models.Range(**bounds))
    raise TypeError(f"unknown condition {condition!r}")


class QdrantEngine:
    """Collections, aliases and metadata as Qdrant itself stores them (``metadata=`` on the
    collection, the alias API); alias switches are one atomic ``update_collection_aliases``."""

    def __init__(self, client: QdrantClient, location: str) -> None:
        self.client = client
        self.location = location
        self.is_local = (
            client.init_options.get("path") is not None or client.init_options.get("location") == ":memory:"
        )

    @classmethod
    def local(cls, path: Path) -> QdrantEngine:
        return cls(local_client(path), str(path))

    @classmethod
    def server(cls, url: str, api_key: str | None, timeout: int = 10) -> QdrantEngine:
        # no version check at construction: it is a request, and an unreachable server must
        # surface as StoreUnavailableError on first use, not as a warning here
        return cls(QdrantClient(url=url, api_key=api_key, timeout=timeout, check_compatibility=False), url)

    @contextmanager
    def _errors(self, name: str | None = None) -> Iterator[None]:
        """Turn client exceptions into the store's typed errors."""
        try:
            yield
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"Qdrant at {self.location} is unreachable: {exc}", hint=_UNREACHABLE_HINT
            ) from exc
        except UnexpectedResponse as exc:
            if exc.status_code == 404 and name is not None:
                raise CollectionNotFoundError(f"no collection {name!r} in {self.location}") from exc
            if exc.status_code in (401, 403):
                raise StoreUnavailableError(
                    f"Qdrant at {self.location} refused the API key (HTTP {exc.status_code})",
                    hint="set MODELYARD_QDRANT_API_KEY to the server's key",
                ) from exc
            if exc.status_code in _UNAVAILABLE_STATUSES:
                raise StoreUnavailableError(
                    f"Qdrant at {self.location} is unavailable (HTTP {exc.status_code})",
                    hint=_UNREACHABLE_HINT,
                ) from exc
            raise EmbeddingsError(f"Qdrant at {self.location} refused the request: {exc}") from exc
        except ValueError as exc:  # local mode signals unknown collections this way
            if name is not None and "not found" in str(exc):
                raise CollectionNotFoundError(f"no collection {name!r} in {self.location}") from exc
            raise

    def names(self) -> list[str]:
        with self._errors():
            return [c.name for c in self.client.get_collections().collections]

    def create(self, name: str, dim: int, spec: IndexSpec, metadata: dict[str, Any]) -> None:
        quantization = None
        if spec.quantization == "int8":
            quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8,
                    quantile=INT8_QUANTILE,
                    always_ram=spec.quantization_always_ram,
                )
            )
        with self._errors(name):
            self.client.create_collection(
                name,
                vectors_config=models.VectorParams(size=dim, distance=_DISTANCES[spec.distance]),
                hnsw_config=models.HnswConfigDiff(
                    m=spec.m, ef_construct=spec.ef_construct, full_scan_threshold=spec.full_scan_threshold_kb
                ),
                quantization_config=quantization,
                metadata=metadata,
            )

    def drop(self, name: str) -> None:
        with self._errors(name):
            self.client.delete_collection(name)

    def metadata(self, name: str) -> dict[str, Any]:
        with self._errors(name):
            return dict(self.client.get_collection(name).config.metadata or {})

    def update_metadata(self, name: str, updates: dict[str, Any]) -> None:
        with self._errors(name):
            self.client.update_collection(name, metadata=updates)

    def create_payload_index(self, name: str, field: str, schema: PayloadSchema) -> None:
        if self.is_local:  # local mode has no payload indexes (it scans)
            return
        with self._errors(name):
            self.client.create_payload_index(name, field_name=field, field_schema=_SCHEMAS[schema], wait=True)

    def upsert(self, name: str, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        batch = models.Batch(ids=[int(i) for i in ids], vectors=vectors.tolist(), payloads=list(payloads))
        with self._errors(name):
            self.client.upsert(name, points=batch, wait=True)

    def present_ids(self, name: str, ids: Sequence[int]) -> set[int]:
        with self._errors(name):
            found = self.client.retrieve(
                name, ids=[int(i) for i in ids], with_payload=False, with_vectors=False
            )
        return {int(point.id) for point in found}

    def count(self, name: str) -> int:
        with self._errors(name):
            return self.client.count(name, exact=True).count

    def finish(self, name: str) -> None:
        """Upserts already waited; a server optimises in the background while it serves."""

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
            models.QuantizationSearchParams(rescore=spec.rescore, oversampling=spec.oversampling)
            if spec.quantization
            else None
        )
        with self._errors(name):
            found = self.client.query_points(
                name,
                query=vector.tolist(),
                limit=k,
                query_filter=to_filter(conditions, exclude_ids),
                score_threshold=score_threshold,
                search_params=None  # local mode is exact and warns on any search params
                if self.is_local
                else models.SearchParams(hnsw_ef=spec.hnsw_ef, exact=exact, quantization=quantization),
                with_payload=True,
            ).points
        return [SearchHit(int(p.id), float(p.score), dict(p.payload or {})) for p in found]

    def retrieve(self, name: str, ids: Sequence[int]) -> list[tuple[int, np.ndarray, dict[str, Any]]]:
        with self._errors(name):
            found = self.client.retrieve(
                name, ids=[int(i) for i in ids], with_payload=True, with_vectors=True
            )
        return [(int(p.id), np.asarray(p.vector, dtype=np.float32), dict(p.payload or {})) for p in found]

    def aliases(self) -> dict[str, str]:
        with self._errors():
            return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def point_alias(self, alias: str, name: str) -> None:
        # Delete + create in ONE request: Qdrant applies the list atomically, so a search by
        # alias sees the old or the new collection, never none.
        operations = [
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=name, alias_name=alias)
            ),
        ]
        if alias not in self.aliases():
            operations = operations[1:]
        with self._errors(name):
            self.client.update_collection_aliases(change_aliases_operations=operations)

    def close(self) -> None:
        """Local clients stay open for the process (cached per folder); server clients close."""
        if not self.is_local:
            self.client.close()
