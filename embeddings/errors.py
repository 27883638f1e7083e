"""Typed errors of the vector store, each a modelyard error kind so the CLI exits with the
right code and serving maps it to a status (UsageError 4xx, NotFoundError 404,
UnavailableError 503) without knowing anything about Qdrant."""

from __future__ import annotations

from modelyard.errors import DataError, ModelyardError, NotFoundError, UnavailableError, UsageError


class EmbeddingsError(ModelyardError):
    """Base of every vector-store error (catch this to handle them all)."""


class DimensionMismatchError(EmbeddingsError, UsageError):
    """A vector's length differs from the collection's dimension."""


class CollectionNotFoundError(EmbeddingsError, NotFoundError):
    """No collection or alias of that name (the model was never indexed)."""


class PointNotFoundError(EmbeddingsError, NotFoundError):
    """Some requested ids are not in the collection."""


class VersionMismatchError(EmbeddingsError, UsageError):
    """A query embedding from one model version met a collection built by another."""


class FilterError(EmbeddingsError, UsageError):
    """A search filter does not follow the filter DSL."""


class BatchError(EmbeddingsError, DataError):
    """An indexing batch is malformed (lengths disagree, non-finite vectors)."""


class IndexVerificationError(EmbeddingsError, DataError):
    """A freshly built collection failed its checks, so the alias was not moved to it."""


class StoreUnavailableError(EmbeddingsError, UnavailableError):
    """The Qdrant server cannot be reached, or another process holds the embedded store."""
