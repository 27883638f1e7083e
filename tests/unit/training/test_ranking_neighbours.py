"""EASE and item-kNN on hand-made interaction matrices whose weights are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from training.ranking.neighbours import (
    co_occurrence,
    ease_weights,
    interaction_matrix,
    item_knn_weights,
    top_k_unseen,
)

# Items 0 and 1: item 0 has 3 users, item 1 has 2, one user has both.
TWO_ITEMS = sparse.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [0, 1]], dtype=np.float64))


def test_interaction_matrix_is_binary_and_drops_unknown_ids() -> None:
    matrix = interaction_matrix(
        np.array([7, 7, 7, 9, 5]), np.array([30, 30, 10, 20, 10]), users=[7, 9], catalogue=[10, 20, 30]
    )
    assert matrix.toarray().tolist() == [[1, 0, 1], [0, 1, 0]]


def test_ease_with_two_items_is_a_ridge_regression_on_the_other_item() -> None:
    """With two items, B[0, 1] = co-count / (count of item 0 + l2) and B[1, 0] likewise."""
    weights = ease_weights(co_occurrence(TWO_ITEMS), l2=1.0)
    assert weights == pytest.approx(np.array([[0.0, 1 / 4], [1 / 3, 0.0]]))


def test_item_knn_is_cosine_similarity_without_self() -> None:
    weights = item_knn_weights(co_occurrence(TWO_ITEMS), neighbours=5)
    cosine = 1 / np.sqrt(3 * 2)
    assert weights == pytest.approx(np.array([[0.0, cosine], [cosine, 0.0]]))


def test_item_knn_keeps_only_the_nearest_neighbours_of_each_item() -> None:
    # Item 0 co-occurs with item 1 twice and with item 2 once: with one neighbour, 2 drops out.
    matrix = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=np.float64))
    weights = item_knn_weights(co_occurrence(matrix), neighbours=1)
    assert weights[2, 0] == 0.0
    assert weights[1, 0] > 0.0
    assert np.count_nonzero(weights, axis=0).tolist() == [1, 1, 1]


def test_top_k_unseen_ranks_by_score_and_never_returns_history() -> None:
    history = sparse.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float64))
    weights = np.array([[5.0, 1.0, 3.0, 2.0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert top_k_unseen(history, weights, k=2).tolist() == [[2, 3]]
