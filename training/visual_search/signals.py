"""visual-search's drift signals: what the encoder was shown, where it put it, and how close the
first catalogue image served was.

The same functions read the validation images at training time (the reference profile) and the
logged payload rows (``pixels``, ``embedding``, ``scores``) when monitoring. Inverted, darker or
photographed images move the pixel statistics; new kinds of items move the embeddings and lower
the top hit's similarity.
"""

from __future__ import annotations

import numpy as np

from training.profile import Signals
from training.visual_search.rerank import VOTE_DEPTH, class_first

BRIGHT = 0.5
"""A pixel (scaled to [0, 1]) above this counts as bright: Fashion-MNIST items are bright on black."""


def signals(pixels: np.ndarray, embeddings: np.ndarray, top_scores: np.ndarray) -> Signals:
    """Signals of N image queries: preprocessed pixels [N, H*W] in [0, 1], their embeddings
    [N, D] and the similarity of each one's best hit [N]."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(len(pixels), -1)
    return Signals(
        features={
            "pixel_mean": pixels.mean(axis=1),
            "pixel_std": pixels.std(axis=1),
            "bright_share": (pixels > BRIGHT).mean(axis=1),
        },
        prediction={"top_score": np.asarray(top_scores, dtype=np.float64)},
        embedding=np.asarray(embeddings, dtype=np.float32),
    )


def top_scores(
    queries: np.ndarray, catalogue: np.ndarray, labels: np.ndarray, exclude: np.ndarray, batch: int = 1024
) -> np.ndarray:
    """The similarity of each unit-length query's first hit as served (class-first: the nearest
    catalogue vector of the class its ``VOTE_DEPTH`` nearest vote for; ``labels`` are the
    catalogue's), skipping catalogue row ``exclude[i]`` for query i (the query itself), in batches
    so memory stays bounded."""
    depth = min(VOTE_DEPTH, len(catalogue) - 1)
    first = []
    for start in range(0, len(queries), batch):
        similarity = queries[start : start + batch] @ catalogue.T
        similarity[np.arange(len(similarity)), exclude[start : start + batch]] = -np.inf
        nearest = np.argpartition(-similarity, depth - 1, axis=1)[:, :depth]
        for row, candidates in zip(similarity, nearest, strict=True):
            ranked = candidates[np.argsort(-row[candidates], kind="stable")]
            first.append(row[ranked[class_first(labels[ranked].tolist())[0]]])
    return np.array(first, dtype=np.float64)
