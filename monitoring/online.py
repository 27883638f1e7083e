"""Online metrics: the served answers joined with what users said back (by ``request_id``).

ranking: click-through rate of the items users gave feedback on, and the AUC of the scores the
model served them with; moderation: precision and recall of the block and the flag (review or
block) decisions against moderators' labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from scipy.stats import rankdata

from modelyard.models import MODERATION, RANKING


def online_metrics(model: str, payloads: pa.Table, feedback: pa.Table) -> dict[str, Any]:
    """The model's online metrics over the feedback that joins a logged answer ({} for models
    without feedback)."""
    if model == RANKING.name:
        return ranking_metrics(payloads, feedback)
    if model == MODERATION.name:
        return moderation_metrics(payloads, feedback)
    return {}


def ranking_metrics(payloads: pa.Table, feedback: pa.Table) -> dict[str, Any]:
    """One row per feedback event whose (request, item) was served: its click and served score."""
    served: dict[tuple[str, int], float] = {}
    for request_id, items, scores in zip(
        *(payloads.column(name).to_pylist() for name in ("request_id", "items", "scores")), strict=True
    ):
        for item, score in zip(items or [], scores or [], strict=False):
            served[request_id, int(item)] = float(score)
    clicks, scores = [], []
    for request_id, item, clicked in zip(
        *(feedback.column(name).to_pylist() for name in ("request_id", "item", "clicked")), strict=True
    ):
        if item is not None and clicked is not None and (request_id, int(item)) in served:
            clicks.append(bool(clicked))
            scores.append(served[request_id, int(item)])
    labels = np.array(clicks, dtype=bool)
    return {
        "feedback": feedback.num_rows,
        "joined": len(labels),
        "ctr": float(labels.mean()) if len(labels) else None,
        "auc": auc(labels, np.array(scores)),
    }


def moderation_metrics(payloads: pa.Table, feedback: pa.Table) -> dict[str, Any]:
    """A label judges the request's first text (``index`` 0): feedback names a request, not a row."""
    decisions = {
        request_id: decision
        for request_id, index, decision in zip(
            *(payloads.column(name).to_pylist() for name in ("request_id", "index", "decision")), strict=True
        )
        if index == 0
    }
    pairs = [
        (decisions[request_id], int(label))
        for request_id, label in zip(
            feedback.column("request_id").to_pylist(), feedback.column("label").to_pylist(), strict=True
        )
        if request_id in decisions and label is not None
    ]
    decided = np.array([d for d, _ in pairs], dtype=str)
    harmful = np.array([label == 1 for _, label in pairs], dtype=bool)
    metrics: dict[str, Any] = {"feedback": feedback.num_rows, "joined": len(pairs)}
    for name, acted in (("block", decided == "block"), ("flag", decided != "allow")):
        metrics[f"{name}_precision"] = _share(harmful[acted]) if len(pairs) else None
        metrics[f"{name}_recall"] = _share(acted[harmful]) if len(pairs) else None
    return metrics


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if len(flags) else None


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged; None without both classes."""
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
