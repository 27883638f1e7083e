"""Retrieval metrics on tiny hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.metrics.retrieval import (
    evaluate_retrieval,
    exact_top_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    precision_curve,
    recall_at_k,
    relevant_counts,
    retrieval_metrics,
    same_class_relevance,
)

# query 0: hits at ranks 1 and 3, 2 relevant items exist; query 1: no hit, 3 relevant items exist.
RELEVANCE = np.array([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=bool)
N_RELEVANT = np.array([2, 3])


def test_precision_counts_hits_in_the_top_k() -> None:
    assert precision_at_k(RELEVANCE, 4) == pytest.approx((2 / 4 + 0) / 2)
    assert precision_at_k(RELEVANCE, 1) == pytest.approx(0.5)


def test_recall_is_the_share_of_queries_with_a_hit() -> None:
    assert recall_at_k(RELEVANCE, 4) == pytest.approx(0.5)
    assert recall_at_k(np.array([[0, 1], [0, 0]], dtype=bool), 1) == 0.0


def test_map_averages_precision_at_each_hit_over_the_ideal_hit_count() -> None:
    # query 0: (P@1 + P@3) / min(4, 2) = (1 + 2/3) / 2; query 1: 0
    assert map_at_k(RELEVANCE, N_RELEVANT, 4) == pytest.approx(((1 + 2 / 3) / 2 + 0) / 2)


def test_map_divides_by_k_when_more_items_are_relevant_than_k() -> None:
    relevance = np.array([[1, 1, 0]], dtype=bool)
    assert map_at_k(relevance, np.array([100]), 3) == pytest.approx((1 + 1) / 3)


def test_ndcg_against_the_ideal_ranking() -> None:
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(RELEVANCE, N_RELEVANT, 4) == pytest.approx((dcg / ideal + 0) / 2)


def test_a_perfect_ranking_scores_one_everywhere() -> None:
    relevance = np.ones((3, 5), dtype=bool)
    metrics = retrieval_metrics(relevance, np.array([5, 9, 50]), 5)
    assert metrics == pytest.approx({"precision_at_5": 1, "recall_at_5": 1, "map_at_5": 1, "ndcg_at_5": 1})


def test_a_query_without_relevant_items_scores_zero_not_nan() -> None:
    relevance = np.zeros((1, 3), dtype=bool)
    assert map_at_k(relevance, np.array([0]), 3) == 0.0
    assert ndcg_at_k(relevance, np.array([0]), 3) == 0.0


def test_precision_curve_is_precision_at_each_k() -> None:
    assert precision_curve(RELEVANCE) == pytest.approx([0.5, 0.25, 1 / 3, 0.25])


def test_same_class_relevance_and_counts() -> None:
    query_labels = np.array([1, 2])
    neighbour_labels = np.array([[1, 2], [2, 2]])
    assert same_class_relevance(query_labels, neighbour_labels).tolist() == [[True, False], [True, True]]
    assert relevant_counts(np.array([1, 2, 7]), np.array([1, 1, 2, 3])).tolist() == [2, 1, 0]


def test_exact_top_k_ranks_by_cosine_or_by_dot_product() -> None:
    catalogue = torch.tensor([[1.0, 0.0], [10.0, 10.0], [0.0, 1.0]])
    query = torch.tensor([[1.0, 0.1]])
    assert exact_top_k(query, catalogue, 3).tolist() == [[0, 1, 2]]
    assert exact_top_k(query, catalogue, 3, cosine=False).tolist() == [[1, 0, 2]]
    assert exact_top_k(query, catalogue, 2, chunk_size=1).shape == (1, 2)
    with pytest.raises(ValueError):
        exact_top_k(query, catalogue, 4)


def test_evaluate_retrieval_on_two_clusters() -> None:
    # class 0 points right, class 1 points up; one query of each, one mislabelled catalogue item.
    catalogue = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.95, 0.05]])
    catalogue_labels = np.array([0, 0, 1, 1, 1])
    queries = torch.tensor([[1.0, 0.02], [0.02, 1.0]])
    metrics, curve = evaluate_retrieval(
        queries, np.array([0, 1]), catalogue, catalogue_labels, k=2, curve_k=3
    )
    # query 0 -> items 0, 4 (hit, miss); query 1 -> items 2, 3 (hit, hit)
    assert metrics["precision_at_2"] == pytest.approx((1 / 2 + 1) / 2)
    assert metrics["recall_at_2"] == 1.0
    assert len(curve) == 3
    assert curve[0] == 1.0
