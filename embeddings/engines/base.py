"""The few operations the store needs from a Qdrant engine, in engine-neutral types.

Each engine translates its own failures: unreachable or locked store -> StoreUnavailableError,
unknown name -> CollectionNotFoundError, so the store never sees a client exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from embeddings.filters import Condition
from embeddings.records import IndexSpec, PayloadSchema, SearchHit


class Engine(Protocol):
    """A place that holds named collections of (int id, vector, payload) and aliases."""

    location: str
    """Where the data lives (path or URL), for messages."""

    def names(self) -> list[str]: ...

    def create(self, name: str, dim: int, spec: IndexSpec, metadata: dict[str, Any]) -> None: ...

    def drop(self, name: str) -> None: ...

    def metadata(self, name: str) -> dict[str, Any]: ...

    def update_metadata(self, name: str, updates: dict[str, Any]) -> None: ...

    def create_payload_index(self, name: str, field: str, schema: PayloadSchema) -> None: ...

    def upsert(
        self, name: str, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]
    ) -> None: ...

    def present_ids(self, name: str, ids: Sequence[int]) -> set[int]: ...

    def count(self, name: str) -> int: ...

    def finish(self, name: str) -> None:
        """Make a fully written collection durable and optimised (build its HNSW graph)."""

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
    ) -> list[SearchHit]: ...

    def retrieve(self, name: str, ids: Sequence[int]) -> list[tuple[int, np.ndarray, dict[str, Any]]]: ...

    def aliases(self) -> dict[str, str]:
        """alias -> collection name."""

    def point_alias(self, alias: str, name: str) -> None:
        """Create or move ``alias`` to ``name`` in one atomic step."""

    def close(self) -> None: ...
