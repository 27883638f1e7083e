"""Online metrics: the served answers joined with what users said back (by ``request_id``).

ranking: click-through rate of the items users gave feedback on, and the AUC of the scores the
model served them with; moderation: precision and recall of the block and the flag (review or
block) decisions against moderators' labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
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


CLICK_COLUMNS = ("time", "request_id", "version", "user", "timestamp", "item", "score", "clicked")


def served_clicks(payloads: pa.Table, feedback: pa.Table) -> pd.DataFrame:
    """One row per served (request, item) that got feedback, in ``CLICK_COLUMNS``: who was served
    it, when (``time``) and about which moment (``timestamp``), by which version, with what
    score, and the user's latest word on it (clicked or not). Feedback on an item the request was
    not served, or on an unknown request, joins nothing. Monitoring's CTR/AUC and retraining
    (``loop.feedback.join_clicks``) both read this join."""
    served = payloads.select(["time", "request_id", "version", "user", "timestamp", "items", "scores"])
    served = served.to_pandas().rename(columns={"items": "item", "scores": "score"})
    served["item"] = served["item"].map(_listed)
    served["score"] = [  # one score per item (a short row is padded with unknowns)
        (_listed(scores) + [None] * len(items))[: len(items)]
        for items, scores in zip(served["item"], served["score"], strict=True)
    ]
    served = served.explode(["item", "score"]).dropna(subset=["item"])
    served = served.astype({"item": "int64", "score": "float64"}).drop_duplicates(["request_id", "item"])
    said = (
        feedback.select(["time", "request_id", "item", "clicked"])
        .to_pandas()
        .dropna(subset=["item", "clicked"])
        .sort_values("time", kind="stable")
        .drop_duplicates(["request_id", "item"], keep="last")
        .astype({"item": "int64", "clicked": bool})
    )
    joined = served.merge(said[["request_id", "item", "clicked"]], on=["request_id", "item"])
    return joined[list(CLICK_COLUMNS)].reset_index(drop=True)


def _listed(values: object) -> list:
    return [] if values is None else list(values)


def ranking_metrics(payloads: pa.Table, feedback: pa.Table) -> dict[str, Any]:
    """CTR of the items users gave feedback on and AUC of the scores they were served with."""
    rows = served_clicks(payloads, feedback).dropna(subset=["score"])
    labels = rows["clicked"].to_numpy(dtype=bool)
    return {
        "feedback": feedback.num_rows,
        "joined": len(labels),
        "ctr": float(labels.mean()) if len(labels) else None,
        "auc": auc(labels, rows["score"].to_numpy(dtype=np.float64)),
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
