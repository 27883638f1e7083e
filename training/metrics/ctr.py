"""Click-through-rate and recommendation metrics: calibration, normalised loss, ranking, recall.

A CTR model feeds an auction or a blend, so its probabilities must be calibrated (log loss,
NCE, ECE) and not only well ordered (AUC, nDCG).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import ndcg_score

_EPS = 1e-7


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy (probabilities clipped away from 0 and 1)."""
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS)
    return float(sklearn_log_loss(labels, clipped, labels=[0, 1]))


def binary_entropy(rate: float) -> float:
    """Log loss of always predicting ``rate`` on data whose click rate is ``rate``."""
    rate = min(max(rate, _EPS), 1 - _EPS)
    return float(-(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)))


def normalized_cross_entropy(labels: np.ndarray, probabilities: np.ndarray, base_rate: float) -> float:
    """Log loss divided by the entropy of the background click rate (``base_rate``, from train).

    Below 1 means better than predicting the average click rate for everyone.
    """
    return log_loss(labels, probabilities) / binary_entropy(base_rate)


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width probability bins: mean prediction, observed click rate and count per bin
    (empty bins kept with count 0, their means NaN)."""

    mean_predicted: np.ndarray
    observed_rate: np.ndarray
    counts: np.ndarray


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = 10) -> ReliabilityBins:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    index = np.clip((probabilities * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(index, weights=probabilities, minlength=n_bins) / counts
        observed_rate = np.bincount(index, weights=labels, minlength=n_bins) / counts
    return ReliabilityBins(mean_predicted, observed_rate, counts)


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean |observed click rate - mean prediction| over equal-width bins."""
    bins = reliability_bins(labels, probabilities, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.observed_rate[filled] - bins.mean_predicted[filled])
    return float(np.sum(gaps * bins.counts[filled]) / bins.counts.sum())


def mean_ndcg_at_k(groups: np.ndarray, relevance: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """nDCG@k computed per group (user) and averaged over groups.

    Groups with fewer than two items or no relevant item are skipped: their ranking is not
    a choice the model made, and nDCG is undefined without a relevant item. Tied scores get
    the average gain of their tie (sklearn's tie handling), so a constant scorer earns no credit
    for the input order.
    """
    groups, relevance, scores = np.asarray(groups), np.asarray(relevance), np.asarray(scores)
    order = np.argsort(groups, kind="stable")
    boundaries = np.flatnonzero(np.diff(groups[order])) + 1
    values = [
        ndcg_score(relevance[members][None, :], scores[members][None, :], k=k)
        for members in np.split(order, boundaries)
        if members.size >= 2 and relevance[members].max() > 0
    ]
    return float(np.mean(values)) if values else float("nan")


def mean_recall_at_k(retrieved: Sequence[Sequence[int]] | np.ndarray, relevant: list[set[int]]) -> float:
    """Per-user recall of the top-k retrieved ids (``retrieved[u]``, length k) against the user's
    relevant ids, averaged over users that have at least one relevant id."""
    recalls = [
        len(relevant_ids.intersection(int(i) for i in row)) / len(relevant_ids)
        for row, relevant_ids in zip(retrieved, relevant, strict=True)
        if relevant_ids
    ]
    return float(np.mean(recalls)) if recalls else float("nan")
