"""Binary classification metrics and operating-point selection for moderation heads.

Thresholds are chosen on validation scores and then applied unchanged to test scores, so the
reported test precision/recall is what the stored thresholds really deliver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision: no trapezoid optimism)."""
    return float(average_precision_score(labels, scores))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores))


def precision_recall_at(
    labels: np.ndarray, scores: np.ndarray, threshold: float | None
) -> tuple[float, float]:
    """Precision and recall when flagging ``scores >= threshold`` (None flags nothing).

    Precision of an empty selection is 1.0 by convention: flagging nothing makes no false alarm.
    """
    labels = np.asarray(labels).astype(bool)
    flagged = np.zeros_like(labels) if threshold is None else np.asarray(scores) >= threshold
    true_positives = int(np.sum(flagged & labels))
    precision = true_positives / int(flagged.sum()) if flagged.any() else 1.0
    recall = true_positives / int(labels.sum()) if labels.any() else 0.0
    return precision, recall


def lowest_threshold_with_precision(
    labels: np.ndarray, scores: np.ndarray, min_precision: float
) -> float | None:
    """The lowest score threshold whose precision reaches ``min_precision`` (max recall under the
    precision floor), or None when no threshold reaches it."""
    precision, _, thresholds = precision_recall_curve(labels, scores)
    reaching = np.flatnonzero(precision[:-1] >= min_precision)
    return float(thresholds[reaching[0]]) if reaching.size else None


def highest_threshold_with_recall(labels: np.ndarray, scores: np.ndarray, min_recall: float) -> float:
    """The highest score threshold that still keeps recall >= ``min_recall`` (fewest items flagged).

    Recall only falls as the threshold rises, and the lowest score always has recall 1.
    """
    _, recall, thresholds = precision_recall_curve(labels, scores)
    keeping = np.flatnonzero(recall[:-1] >= min_recall)
    return float(thresholds[keeping[-1]])


@dataclass(frozen=True)
class OperatingPoints:
    """Block and review thresholds for one head, chosen on validation data.

    ``block`` is None when no threshold reaches the precision floor: the head then never blocks.
    ``review <= block`` always holds, so every blocked item would also have been reviewed.
    """

    block: float | None
    review: float
    val_precision_at_block: float
    val_recall_at_review: float


def choose_operating_points(
    labels: np.ndarray, scores: np.ndarray, block_precision: float, review_recall: float
) -> OperatingPoints:
    """Block at the precision floor, review at the recall floor (both on validation data)."""
    block = lowest_threshold_with_precision(labels, scores, block_precision)
    review = highest_threshold_with_recall(labels, scores, review_recall)
    if block is not None:
        review = min(review, block)
    return OperatingPoints(
        block=block,
        review=review,
        val_precision_at_block=precision_recall_at(labels, scores, block)[0],
        val_recall_at_review=precision_recall_at(labels, scores, review)[1],
    )


def pr_curve_points(labels: np.ndarray, scores: np.ndarray, max_points: int = 200) -> dict[str, list[float]]:
    """A down-sampled precision-recall curve (JSON-able) for plots."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    keep = np.unique(np.linspace(0, len(precision) - 1, min(max_points, len(precision))).astype(int))
    return {"precision": precision[keep].round(5).tolist(), "recall": recall[keep].round(5).tolist()}
