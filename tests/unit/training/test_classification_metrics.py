"""Classification metrics and operating points on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics.classification import (
    choose_operating_points,
    highest_threshold_with_recall,
    lowest_threshold_with_precision,
    pr_auc,
    pr_curve_points,
    precision_recall_at,
    roc_auc,
)

# scores ascending; labels: 0 0 1 0 1 1
LABELS = np.array([0, 0, 1, 0, 1, 1])
SCORES = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])


def test_roc_auc_counts_correctly_ordered_pairs() -> None:
    # 9 (positive, negative) pairs; only (0.3, 0.4) is out of order.
    assert roc_auc(LABELS, SCORES) == pytest.approx(8 / 9)


def test_pr_auc_is_average_precision() -> None:
    # Positives found at ranks 1, 2, 4: AP = (1 + 1 + 3/4) / 3.
    assert pr_auc(LABELS, SCORES) == pytest.approx((1 + 1 + 0.75) / 3)


def test_precision_recall_at_a_threshold_and_at_none() -> None:
    assert precision_recall_at(LABELS, SCORES, 0.4) == pytest.approx((2 / 3, 2 / 3))
    assert precision_recall_at(LABELS, SCORES, None) == (1.0, 0.0)


def test_block_is_the_lowest_threshold_reaching_the_precision_floor() -> None:
    # precision at >= 0.8 is 1.0 (recall 2/3); at >= 0.4 it drops to 2/3.
    assert lowest_threshold_with_precision(LABELS, SCORES, 0.99) == pytest.approx(0.8)
    # 0.75 is reached at >= 0.3 (3/4) already: the lowest such threshold wins (more recall).
    assert lowest_threshold_with_precision(LABELS, SCORES, 0.75) == pytest.approx(0.3)


def test_block_is_none_when_the_floor_is_unreachable() -> None:
    labels, scores = np.array([1, 0, 1]), np.array([0.2, 0.9, 0.5])
    assert lowest_threshold_with_precision(labels, scores, 0.99) is None
    points = choose_operating_points(labels, scores, 0.99, 0.95)
    assert points.block is None and points.val_precision_at_block == 1.0


def test_review_is_the_highest_threshold_keeping_the_recall_floor() -> None:
    assert highest_threshold_with_recall(LABELS, SCORES, 0.95) == pytest.approx(0.3)
    assert highest_threshold_with_recall(LABELS, SCORES, 0.6) == pytest.approx(0.8)


def test_operating_points_keep_review_at_or_below_block() -> None:
    # Perfect separation: block (0.6) would sit below the recall-0.5 review point (0.9).
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.6, 0.9])
    points = choose_operating_points(labels, scores, 0.99, 0.5)
    assert points.block == pytest.approx(0.6)
    assert points.review == pytest.approx(0.6)
    assert (points.val_precision_at_block, points.val_recall_at_review) == (1.0, 1.0)


def test_pr_curve_points_are_bounded_and_json_ready() -> None:
    scores = np.random.default_rng(0).random(1000)
    labels = (scores + np.random.default_rng(1).normal(0, 0.3, 1000) > 0.5).astype(int)
    curve = pr_curve_points(labels, scores, max_points=50)
    assert len(curve["precision"]) == len(curve["recall"]) <= 50
    assert curve["recall"][0] == 1.0 and curve["recall"][-1] == 0.0
    assert all(isinstance(v, float) for v in curve["precision"])
