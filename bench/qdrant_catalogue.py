"""The vectors the Qdrant benchmark indexes: the platform's real visual-search embeddings when they
exist, else synthetic clustered vectors of the same shape, with the reason recorded.

Real embeddings come, in order of preference, from a private copy of the live visual-search edge
collection (the user's index is never opened, so a serving transformer may hold it), or from the
registered champion re-embedding the whole catalogue (``yard index`` into a temporary store).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embeddings import VectorStore
from embeddings.engines.edge import EdgeEngine
from modelyard.errors import ModelyardError
from modelyard.settings import Settings

MODEL = "visual-search"
CATALOGUE_SIZE = 70_000
"""Fashion-MNIST train + test: the full visual-search catalogue."""
SYNTHETIC_DIM, SYNTHETIC_CLUSTERS = 128, 100
TEST_SHARE = 1 / 7
"""Synthetic points in the ``test`` split (Fashion-MNIST: 10k of 70k)."""


@dataclass(frozen=True)
class Catalogue:
    """Points to index (ids are row numbers) and where they came from."""

    vectors: np.ndarray
    payloads: list[dict[str, Any]]
    source: str
    fallback_reason: str | None = None
    """Why synthetic vectors stand in for the real ones (None: real)."""

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def query_rows(self, count: int, seed: int = 0) -> np.ndarray:
        """Held-out queries: ``count`` test-split rows, searched with themselves excluded."""
        test = [row for row, payload in enumerate(self.payloads) if payload["split"] == "test"]
        return np.sort(np.random.default_rng(seed).choice(test, min(count, len(test)), replace=False))

    def subset(self, points: int, seed: int = 0) -> Catalogue:
        """``points`` rows drawn uniformly (both splits keep their share), renumbered from 0."""
        if points >= len(self.vectors):
            return self
        rows = np.sort(np.random.default_rng(seed).choice(len(self.vectors), points, replace=False))
        return Catalogue(
            self.vectors[rows],
            [self.payloads[row] for row in rows],
            f"{self.source}, {points:,} of {len(self.vectors):,} drawn uniformly",
            self.fallback_reason,
        )


def load_catalogue(settings: Settings, work_dir: Path) -> Catalogue:
    """The real visual-search embeddings, or synthetic ones with the reason they were needed."""
    try:
        store, name, source = real_collection(settings, work_dir)
    except ModelyardError as error:
        return synthetic_catalogue(CATALOGUE_SIZE, reason=f"no real embeddings: {error}")
    stored = store.retrieve(name, range(CATALOGUE_SIZE))  # ids are image indices
    return Catalogue(stored.vectors, stored.payloads, source)


def real_collection(settings: Settings, work_dir: Path) -> tuple[VectorStore, str, str]:
    """A complete full-size visual-search collection under ``work_dir``: a copy of the live one,
    else one the champion builds there. Returns the store, the collection and its description."""
    store = VectorStore(EdgeEngine.open(work_dir))
    live = live_full_collection(settings)
    if live is not None:
        EdgeEngine.open(settings.qdrant_path / "edge").copy_collection(live, work_dir)
        return store, live, f"{MODEL} embeddings copied from the live index {live}"
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from embeddings.indexer import index_model

    name = index_model(settings, MODEL, f"{MODEL}@champion", store)
    return store, name, f"{MODEL} catalogue re-embedded by the registered champion ({name})"


def live_full_collection(settings: Settings) -> str | None:
    """The live visual-search edge collection if it is complete and holds the whole catalogue."""
    root = settings.qdrant_path / "edge"
    if settings.qdrant_url or not root.is_dir():
        return None
    store = VectorStore(EdgeEngine.open(root))
    version = store.live_version(MODEL)
    if version is None or store.complete_points(MODEL, version) != CATALOGUE_SIZE:
        return None
    return store.resolve(MODEL)


def synthetic_catalogue(points: int, reason: str, seed: int = 7) -> Catalogue:
    """Vectors around ``SYNTHETIC_CLUSTERS`` centres (neighbours close, classes overlap, like real
    embeddings), payload like visual-search's: ``label`` (cluster mod 10) and ``split``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(SYNTHETIC_CLUSTERS, SYNTHETIC_DIM)).astype(np.float32)
    cluster = rng.integers(0, SYNTHETIC_CLUSTERS, size=points)
    vectors = centres[cluster] + 0.6 * rng.normal(size=(points, SYNTHETIC_DIM)).astype(np.float32)
    first_test = round(points * (1 - TEST_SHARE))
    payloads = [
        {"label": int(c % 10), "split": "test" if row >= first_test else "train"}
        for row, c in enumerate(cluster)
    ]
    return Catalogue(
        vectors.astype(np.float32),
        payloads,
        f"synthetic: {points:,} x {SYNTHETIC_DIM} around {SYNTHETIC_CLUSTERS} cluster centres",
        reason,
    )
