"""The version's own Qdrant collection, searched off the event loop.

A transformer serving version N searches ``<model>__vN`` (not the alias): the alias may
already point at a newer index while this version still serves, and the embedded engines keep
the alias map they read at start. With the embedded store (no ``MODELYARD_QDRANT_URL``) this
process holds the collection's folder lock while it serves: ``yard index`` of the same version
must run before the transformer starts, other versions and models can be indexed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import numpy as np

from embeddings import SearchHit, StoredPoints, VectorStore
from embeddings.naming import collection_name
from modelyard.errors import ModelyardError
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)


class VersionIndex:
    """Search and retrieve in one model version's collection."""

    def __init__(self, settings: Settings, model: str, version: int) -> None:
        self.model, self.version = model, version
        self.collection = collection_name(model, version)
        self.store = VectorStore.from_settings(settings)

    def probe(self) -> None:
        """Open the collection now, so a missing index or a held lock shows at start (as a warning:
        the transformer still starts, and such requests answer 503 with the fix)."""
        try:
            self.store.retrieve(self.collection, [])
            event(log, "index_ready", collection=self.collection)
        except ModelyardError as error:
            event(log, "index_unavailable", logging.WARNING, collection=self.collection, error=str(error))

    async def search(
        self, vector: np.ndarray, k: int, *, filter: dict | None = None, exclude_ids: Sequence[int] = ()
    ) -> list[SearchHit]:
        return await asyncio.to_thread(
            self.store.search,
            self.collection,
            vector,
            k,
            filter=filter,
            exclude_ids=exclude_ids,
            expect_version=self.version,
        )

    async def retrieve(self, ids: Sequence[int]) -> StoredPoints:
        return await asyncio.to_thread(self.store.retrieve, self.collection, ids)
