"""Item-item retrieval baselines: EASE and item-kNN over the user x item interaction matrix.

Both score a user's unseen items from the items the user already has (``scores = x_u @ W``), so
they need no training loop and run in seconds on MovieLens-100k's 1,682 items. EASE is the served
retrieval (``training.ranking.retrieval``); both are logged as baselines of its recall@K (Steck 2019,
"Embarrassingly Shallow Autoencoders"; Sarwar et al. 2001, item-based collaborative filtering).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse


def interaction_matrix(
    user_ids: np.ndarray, item_ids: np.ndarray, users: Sequence[int], catalogue: Sequence[int]
) -> sparse.csr_matrix:
    """Binary [len(users), len(catalogue)]: 1 where the user interacted with the item (pairs with a
    user or item outside ``users``/``catalogue`` are dropped). ``users`` and ``catalogue`` sorted."""
    rows, row_known = _positions(np.asarray(users), np.asarray(user_ids))
    columns, column_known = _positions(np.asarray(catalogue), np.asarray(item_ids))
    keep = row_known & column_known
    matrix = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], columns[keep])), shape=(len(users), len(catalogue))
    )
    matrix.data[:] = 1.0  # a pair seen twice counts once
    return matrix


def _positions(sorted_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in ``sorted_ids`` and whether it is there at all."""
    if len(sorted_ids) == 0:
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return position, sorted_ids[position] == values


def co_occurrence(interactions: sparse.csr_matrix) -> np.ndarray:
    """Dense item x item co-occurrence counts X'X (diagonal = each item's users): both baselines'
    only input, so it is computed once per history."""
    return (interactions.T @ interactions).toarray()


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE item-item weights [items, items]: ridge regression of each item's column on all the
    others, with a zero diagonal (closed form: B = I - P / diag(P), P = (X'X + l2 I)^-1)."""
    regularised = gram + l2 * np.eye(len(gram))
    precision = np.linalg.inv(regularised)
    weights = -precision / np.diag(precision)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def item_knn_weights(gram: np.ndarray, neighbours: int) -> np.ndarray:
    """Item-kNN weights [items, items]: cosine similarity of item columns, each target item keeping
    only its ``neighbours`` most similar items (no self-similarity)."""
    norms = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.nan_to_num(gram / np.outer(norms, norms))
    similarity[np.diag_indices_from(similarity)] = 0.0
    if neighbours < similarity.shape[0]:
        cut = np.argpartition(-similarity, neighbours - 1, axis=0)[neighbours:]
        np.put_along_axis(similarity, cut, 0.0, axis=0)
    return similarity


def top_k_unseen(history: sparse.csr_matrix, weights: np.ndarray, k: int) -> np.ndarray:
    """Column indices [users, k] of each user's best-scored items, the user's own items excluded."""
    scores = np.asarray(history @ weights)
    scores[history.nonzero()] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
