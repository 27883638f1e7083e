"""Class-first re-ranking, shared by the offline evaluation and the visual-search transformer."""

from __future__ import annotations

import numpy as np
import torch

from training.metrics.retrieval import evaluate_retrieval
from training.visual_search.rerank import VOTE_DEPTH, class_first
from training.visual_search.task import CURVE_MAX_K


def test_the_majority_class_moves_ahead_keeping_each_group_in_order() -> None:
    assert class_first([1, 2, 2, 1, 2, 3]) == [1, 2, 4, 0, 3, 5]


def test_a_tie_goes_to_the_nearer_neighbours_class() -> None:
    assert class_first([2, 1, 1, 2]) == [0, 3, 1, 2]


def test_only_the_first_depth_neighbours_vote() -> None:
    assert class_first([1, 2, 2, 2], depth=1) == [0, 1, 2, 3]


def test_unlabelled_hits_do_not_vote_and_an_unlabelled_catalogue_keeps_its_order() -> None:
    assert class_first([None, None, 4]) == [2, 0, 1]
    assert class_first([None, None]) == [0, 1]
    assert class_first([]) == []


def test_the_evaluation_fetches_every_neighbour_that_votes() -> None:
    assert CURVE_MAX_K >= VOTE_DEPTH


def test_evaluation_scores_the_reranked_order_and_keeps_the_similarity_order_beside() -> None:
    """One query of class 0 whose nearest neighbour is of class 1 and the next two of class 0."""
    catalogue = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
    labels = np.array([1, 0, 0, 1])
    query = torch.tensor([[1.0, 0.0]])
    metrics, curve = evaluate_retrieval(query, np.array([0]), catalogue, labels, 1, 3, class_first)
    assert metrics["precision_at_1"] == 1.0 and metrics["similarity_precision_at_1"] == 0.0
    assert curve == [1.0, 1.0, 2 / 3]
    plain, _ = evaluate_retrieval(query, np.array([0]), catalogue, labels, 1, 3)
    assert plain["precision_at_1"] == 0.0 and "similarity_precision_at_1" not in plain
