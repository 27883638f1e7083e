"""ranking's drift signals: who asks (how much history the version knows of them) and what was
returned (how popular, how confident).

The same functions read the validation users at training time (the reference profile) and the
logged payload rows (``user``, ``items``, ``scores``) when monitoring. A wave of new users, a
popularity shift or a model that has grown unsure all move one of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.profile import Signals


def popularity_context(users: np.ndarray, items: np.ndarray, clicked: np.ndarray) -> dict[str, Any]:
    """What ``signals`` needs besides the rows: each training user's rated items and each item's
    training clicks (JSON keys are strings)."""
    user_ids, user_counts = np.unique(users, return_counts=True)
    item_ids, item_clicks = np.unique(items[clicked], return_counts=True)
    return {
        "history_length": {str(u): int(c) for u, c in zip(user_ids, user_counts, strict=True)},
        "item_clicks": {str(i): int(c) for i, c in zip(item_ids, item_clicks, strict=True)},
    }


def signals(
    users: np.ndarray, items: list[list[int]], scores: list[list[float]], context: dict[str, Any]
) -> Signals:
    """Signals of N answered requests: the user, the returned item ids and their scores."""
    history, clicks = context["history_length"], context["item_clicks"]
    lengths = np.array([history.get(str(int(user)), 0) for user in users], dtype=np.float64)
    popularity = np.array(
        [np.mean([np.log1p(clicks.get(str(int(i)), 0)) for i in row]) if row else 0.0 for row in items]
    )
    top = np.array([max(row) if row else 0.0 for row in scores], dtype=np.float64)
    mean = np.array([float(np.mean(row)) if row else 0.0 for row in scores], dtype=np.float64)
    return Signals(
        features={"history_length": lengths, "mean_item_popularity": popularity},
        prediction={"top_score": top, "mean_score": mean},
        categories={"user": np.where(lengths > 0, "known", "cold")},
    )
