"""Value types of the public API: how to index, what a search returns, what a collection is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from embeddings.errors import EmbeddingsError

Distance = Literal["cosine", "dot", "euclid"]
PayloadSchema = Literal["keyword", "integer", "float", "bool"]
INT8_QUANTILE = 0.99
"""int8 quantization scales to this quantile of the values: a few outliers do not waste its range."""


@dataclass(frozen=True)
class IndexSpec:
    """How a collection is indexed. The defaults were chosen on the real 70k x 128 visual-search
    embeddings (bench/qdrant_bench.py, docs/embeddings.md): recall@10 against exact search on the
    same collection >= 0.9999 unfiltered and filtered, under 2 ms p50 per query on edge. A
    collection keeps the spec it was built with (its metadata); re-index to apply new defaults."""

    distance: Distance = "cosine"
    m: int = 16
    """HNSW edges per node: more = better recall, more memory and a slower build. At 70k real
    embeddings, halved (8/64) and doubled (32/256) m and ef_construct gave the same recall@10
    (>= 0.999 at every hnsw_ef); doubled built 1.4-3.4x slower. 16/128 (Qdrant's usual) stays."""
    ef_construct: int = 128
    """HNSW build-time candidate list: more = better graph, slower build (see ``m``)."""
    hnsw_ef: int = 256
    """Search-time candidate list (the recall/latency knob at query time). 256: recall@10 against
    exact search 1.0 unfiltered and 0.9999 with a broad filter (split=train) on the 70k real
    embeddings, at 0.56-0.67 ms p50 (512: 0.75-0.93 ms, the same recall). 64 already gives
    0.999, so 256 keeps a 4x margin for larger or harder catalogues. (The 0.92 once measured at
    512 came from synthetic queries drawn around other centres than the data: out of distribution.)"""
    full_scan_threshold_kb: int = 10_000
    """Per segment: below this many KB of vectors, or when a filter's estimated matches (read off
    a payload index) fit under it, a search is an exact scan, not HNSW. 10 MB = 20k vectors of
    128 float32: one label of the 70k visual-search points (7k) is scanned exactly in 1-1.6 ms."""
    quantization: Literal["int8"] | None = None
    """Scalar int8 quantization: 4x less memory for the scored copy of the vectors, and the HNSW
    graph is built on int8 scores. Off: on the real visual-search embeddings, whose 10 nearest
    neighbours lie within about 0.001 cosine of each other (finer than int8's error), it cut
    recall@10 to 0.44 (0.72 at oversampling 4). On 70k synthetic clustered vectors it kept 0.998
    at oversampling 2. Measure on the collection's own data before turning it on."""
    quantization_always_ram: bool = True
    rescore: bool = True
    """With quantization, re-score the candidates with the original vectors."""
    oversampling: float = 2.0
    """With quantization, fetch this many times k candidates by int8 score before re-scoring
    and keeping k: re-scoring alone only re-orders the k found and cannot bring back a missed
    neighbour (70k synthetic: recall@10 0.91 at 1, 0.998 at 2)."""

    def __post_init__(self) -> None:
        problems = [
            f"{name}={getattr(self, name)} must be >= {low}"
            for name, low in (
                ("m", 2),
                ("ef_construct", 4),
                ("hnsw_ef", 1),
                ("full_scan_threshold_kb", 0),
                ("oversampling", 1),
            )
            if getattr(self, name) < low
        ]
        if self.distance not in ("cosine", "dot", "euclid"):
            problems.append(f"distance={self.distance!r} is not cosine, dot or euclid")
        if problems:
            raise EmbeddingsError(f"bad IndexSpec: {'; '.join(problems)}", hint="fix the IndexSpec arguments")

    def as_metadata(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_metadata(cls, values: dict[str, Any]) -> IndexSpec:
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})


@dataclass(frozen=True)
class SearchHit:
    """One search result: the point id, its score (higher is closer, except euclid distance)
    and its payload."""

    id: int
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoints:
    """Points read back by id (for query-by-id), in the order asked for."""

    ids: list[int]
    vectors: np.ndarray
    payloads: list[dict[str, Any]]


@dataclass(frozen=True)
class CollectionInfo:
    """One versioned collection as the store sees it."""

    name: str
    model: str
    version: int
    dim: int
    points: int
    complete: bool
    """False while a build is running or was interrupted (resumable)."""
    live: bool
    """The model's alias points here."""
    created: str
    spec: IndexSpec
