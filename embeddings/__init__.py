"""Embedding search for the platform: versioned Qdrant collections behind an alias per model.

Serving calls ``VectorStore.search``; the indexer (``yard index``) calls ``build_version``.
"""

from embeddings.errors import (
    BatchError,
    CollectionNotFoundError,
    DimensionMismatchError,
    EmbeddingsError,
    FilterError,
    IndexVerificationError,
    PointNotFoundError,
    StoreUnavailableError,
    VersionMismatchError,
)
from embeddings.records import CollectionInfo, IndexSpec, SearchHit, StoredPoints
from embeddings.store import VectorStore

__all__ = [
    "BatchError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "DimensionMismatchError",
    "EmbeddingsError",
    "FilterError",
    "IndexSpec",
    "IndexVerificationError",
    "PointNotFoundError",
    "SearchHit",
    "StoreUnavailableError",
    "StoredPoints",
    "VectorStore",
    "VersionMismatchError",
]
