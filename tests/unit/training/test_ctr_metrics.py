"""CTR and recommendation metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics.ctr import (
    binary_entropy,
    expected_calibration_error,
    log_loss,
    mean_ndcg_at_k,
    mean_recall_at_k,
    normalized_cross_entropy,
    reliability_bins,
)


def test_log_loss_by_hand_and_clipped() -> None:
    labels, probabilities = np.array([1, 0]), np.array([0.8, 0.4])
    assert log_loss(labels, probabilities) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert math.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))


def test_nce_is_one_for_the_background_rate_and_below_one_when_better() -> None:
    labels = np.array([1, 1, 1, 0])
    assert binary_entropy(0.75) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert normalized_cross_entropy(labels, np.full(4, 0.75), base_rate=0.75) == pytest.approx(1.0)
    assert normalized_cross_entropy(labels, np.array([0.9, 0.9, 0.9, 0.1]), base_rate=0.75) < 1.0


def test_ece_weights_bin_gaps_by_count() -> None:
    # Bin [0.2, 0.3): two predictions of 0.2, one click -> gap 0.3.
    # Bin [0.9, 1.0]: two predictions of 0.9, two clicks -> gap 0.1.
    labels, probabilities = np.array([0, 1, 1, 1]), np.array([0.2, 0.2, 0.9, 0.9])
    assert expected_calibration_error(labels, probabilities, n_bins=10) == pytest.approx(
        (2 * 0.3 + 2 * 0.1) / 4
    )
    bins = reliability_bins(labels, probabilities, n_bins=10)
    assert bins.counts.tolist() == [0, 0, 2, 0, 0, 0, 0, 0, 0, 2]
    assert np.isnan(bins.mean_predicted[0]) and bins.observed_rate[2] == pytest.approx(0.5)


def test_a_perfectly_calibrated_predictor_has_zero_ece() -> None:
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(labels, np.full(8, 0.5)) == pytest.approx(0.0)


def test_ndcg_per_user_by_hand() -> None:
    users = np.array([7, 7, 7, 9, 9, 9])
    relevance = np.array([0, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.5, 0.1, 0.8, 0.3, 0.2])
    # User 7: the relevant item is ranked 2nd -> 1/log2(3). User 9: ranked 1st -> 1.
    assert mean_ndcg_at_k(users, relevance, scores, k=10) == pytest.approx((1 / math.log2(3) + 1) / 2)
    # With k=1 user 7 gets nothing.
    assert mean_ndcg_at_k(users, relevance, scores, k=1) == pytest.approx(0.5)


def test_ndcg_skips_users_without_a_choice_and_averages_ties() -> None:
    users = np.array([1, 2, 2, 3, 3])
    relevance = np.array([1, 0, 0, 1, 0])
    scores = np.array([0.5, 0.2, 0.3, 0.4, 0.4])
    # User 1 has one item, user 2 no relevant item: skipped. User 3's tie: mean gain (1 + 1/log2 3) / 2.
    assert mean_ndcg_at_k(users, relevance, scores, k=10) == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_recall_at_k_is_averaged_over_users_with_relevant_items() -> None:
    retrieved = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    relevant = [{1, 10}, {5, 6}, set()]
    assert mean_recall_at_k(retrieved, relevant) == pytest.approx((0.5 + 1.0) / 2)
    assert mean_recall_at_k([[3, 1]], [{1}]) == pytest.approx(1.0)
