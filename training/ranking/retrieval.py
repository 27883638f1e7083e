"""The served retrieval stage: EASE as a two-tower model with linear towers, searched in Qdrant.

EASE scores a user's items as ``x_u @ B`` (``x_u`` the user's multi-hot history over the catalogue,
``B`` the item-item weights, ``training.ranking.neighbours.ease_weights``). That is a dot product of
a user vector (``x_u``, built at request time from the history the version carries) with an item
vector (column ``B[:, i]``, indexed once). The collection searches by cosine, so every item vector
gets one more coordinate, ``sqrt(M^2 - |b_i|^2)``, that brings all of them to the same norm ``M``,
and the user vector's extra coordinate is 0: cosine then ranks items exactly as the dot product
does (Bachrach et al. 2014, "Speeding up the Xbox recommender system using a euclidean
transformation for inner-product spaces"), and an indexed point is still its own nearest neighbour.

Dependency-free (numpy) because the serving transformer imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def item_vectors(weights: np.ndarray) -> np.ndarray:
    """float32 [items, items + 1]: row i is ``B[:, i]`` plus its norm-completing coordinate."""
    columns = np.asarray(weights, dtype=np.float64).T
    squared = (columns**2).sum(axis=1)
    completion = np.sqrt(np.maximum(squared.max() - squared, 0.0))
    return np.concatenate([columns, completion[:, None]], axis=1).astype(np.float32)


def user_vector(catalogue: Sequence[int] | np.ndarray, history: Iterable[int]) -> np.ndarray:
    """float32 [items + 1]: 1 at each catalogue position of an item in ``history`` (items outside
    the catalogue are ignored), 0 in the completion coordinate. All zeros: nothing to retrieve
    from (serve the user another way)."""
    catalogue = np.asarray(catalogue, dtype=np.int64)
    items = np.fromiter((int(item) for item in history), dtype=np.int64)
    position = np.minimum(np.searchsorted(catalogue, items), len(catalogue) - 1)
    vector = np.zeros(len(catalogue) + 1, dtype=np.float32)
    vector[position[catalogue[position] == items]] = 1.0
    return vector


def unseen_scores(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine [users, items] of user vectors (``user_vector`` rows) with item vectors, -inf at each
    user's own items: what the collection answers a search excluding the user's history."""
    norms = np.linalg.norm(vectors, axis=1) * np.maximum(
        np.linalg.norm(queries, axis=1, keepdims=True), 1e-12
    )
    scores = queries @ vectors.T / norms
    scores[queries[:, :-1] > 0] = -np.inf
    return scores
