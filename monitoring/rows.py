"""Logged payload rows -> the model's ``Signals``, through the same functions its reference
profile was computed with (``training/<model>/signals.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.models import MODERATION, RANKING, VISUAL_SEARCH
from training.moderation import signals as moderation
from training.profile import Signals
from training.ranking import signals as ranking
from training.visual_search import signals as visual_search


def moderation_signals(table: pa.Table, context: dict[str, Any]) -> Signals:
    heads = list(context["heads"])
    scores = np.array([row or [np.nan] * len(heads) for row in table.column("scores").to_pylist()])
    return moderation.signals(
        [text or "" for text in table.column("text").to_pylist()],
        scores,
        np.array(table.column("decision").to_pylist(), dtype=str),
        heads,
        context,
    )


def visual_search_signals(table: pa.Table, context: dict[str, Any]) -> Signals:
    """Image queries only: a query by an indexed image's id shows nothing new about traffic. The top
    score is the first served hit's, as the reference profile reads it (class-first; a request for
    ``"order": "similarity"`` gets the nearest image first, at most a little closer)."""
    images = table.filter(pc.invert(pc.is_null(table.column("pixels"))))
    pixels = images.column("pixels").to_pylist()
    embeddings = images.column("embedding").to_pylist()
    scores = [row[0] if row else np.nan for row in images.column("scores").to_pylist()]
    return visual_search.signals(
        np.array(pixels, dtype=np.float32).reshape(len(pixels), -1),
        np.array(embeddings, dtype=np.float32).reshape(len(embeddings), -1),
        np.array(scores, dtype=np.float64),
    )


def ranking_signals(table: pa.Table, context: dict[str, Any]) -> Signals:
    return ranking.signals(
        np.array(table.column("user").to_pylist(), dtype=np.int64),
        [row or [] for row in table.column("items").to_pylist()],
        [row or [] for row in table.column("scores").to_pylist()],
        context,
    )


SIGNALS: dict[str, Callable[[pa.Table, dict[str, Any]], Signals]] = {
    MODERATION.name: moderation_signals,
    VISUAL_SEARCH.name: visual_search_signals,
    RANKING.name: ranking_signals,
}
