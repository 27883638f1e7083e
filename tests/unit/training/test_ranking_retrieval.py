"""The served retrieval's vectors: cosine search over them ranks unseen items exactly as EASE does."""

from __future__ import annotations

import numpy as np

from training.ranking.neighbours import co_occurrence, ease_weights, interaction_matrix, top_k_unseen
from training.ranking.retrieval import item_vectors, unseen_scores, user_vector

CATALOGUE = [3, 5, 8, 13, 21, 34, 55, 89]


def random_history(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 30, size=150)
    items = rng.choice(CATALOGUE, size=150, p=np.linspace(2, 1, len(CATALOGUE)) / np.linspace(2, 1, 8).sum())
    return users, items


def test_cosine_over_completed_vectors_ranks_like_ease() -> None:
    users, items = random_history(0)
    matrix = interaction_matrix(users, items, sorted(set(users.tolist())), CATALOGUE)
    weights = ease_weights(co_occurrence(matrix), l2=2.0)
    vectors = item_vectors(weights)
    norms = np.linalg.norm(vectors, axis=1)
    assert vectors.shape == (len(CATALOGUE), len(CATALOGUE) + 1)
    assert np.allclose(norms, norms[0], rtol=1e-5)  # one norm: cosine orders as the dot product
    histories = [np.asarray(CATALOGUE)[row.nonzero()[1]] for row in matrix]
    queries = np.stack([user_vector(CATALOGUE, history) for history in histories])
    k = 3
    served = np.argsort(-unseen_scores(queries, vectors), axis=1, kind="stable")[:, :k]
    expected = top_k_unseen(matrix, weights, k)
    ease = np.asarray(matrix @ weights)
    for row in range(len(histories)):  # the same top k, up to the order of tied EASE scores
        assert np.allclose(np.sort(ease[row, served[row]]), np.sort(ease[row, expected[row]]), atol=1e-5)


def test_user_vector_marks_known_items_and_ignores_the_rest() -> None:
    vector = user_vector(CATALOGUE, [5, 89, 4, 1000])
    assert vector.tolist() == [0, 1, 0, 0, 0, 0, 0, 1, 0]


def test_unseen_scores_never_offer_the_users_own_items() -> None:
    vectors = item_vectors(np.ones((len(CATALOGUE), len(CATALOGUE))) - np.eye(len(CATALOGUE)))
    scores = unseen_scores(user_vector(CATALOGUE, [3, 55])[None, :], vectors)
    assert np.isneginf(scores[0, [0, 6]]).all() and np.isfinite(np.delete(scores[0], [0, 6])).all()
