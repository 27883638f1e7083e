"""Signals and the reference profile: what drift is measured on, and what it is measured against.

Each model's ``training/<model>/signals.py`` turns rows (validation rows at training time, logged
payload rows when monitoring) into a ``Signals``: named per-row numbers, categories, embeddings and
the prediction score. The profile stores samples of the validation split's signals with the version
(``profile.json``), not histograms, so the monitor can run two-sample tests against them later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROFILE_FORMAT = 1
SAMPLE_ROWS = 2000
"""Per-row samples kept per feature: enough for a two-sample test against a window of hundreds."""
EMBEDDING_ROWS = 300
"""Embedding rows kept: MMD's cost grows with the square of the rows."""
SAMPLE_SEED = 0


@dataclass(frozen=True)
class Signals:
    """Named signals of N rows, each array's first dimension N."""

    features: dict[str, np.ndarray]
    """Continuous input features, float64 [N] (two-sample Kolmogorov-Smirnov)."""
    prediction: dict[str, np.ndarray]
    """The model's scores, float64 [N] (prediction-distribution shift, also KS)."""
    categories: dict[str, np.ndarray] = field(default_factory=dict)
    """Categorical outputs such as a decision, str [N] (chi-squared)."""
    embedding: np.ndarray | None = None
    """float32 [N, D] (maximum mean discrepancy)."""

    @property
    def rows(self) -> int:
        for values in (*self.features.values(), *self.prediction.values()):
            return len(values)
        return 0 if self.embedding is None else len(self.embedding)


def build_profile(model: str, signals: Signals, context: dict[str, Any]) -> dict[str, Any]:
    """The profile.json payload: a seeded sample of rows of every signal (the same rows for all,
    so their joint shape survives), plus the ``context`` the model's signal functions need at
    monitoring time (e.g. the training vocabulary)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    rows = np.sort(rng.permutation(signals.rows)[:SAMPLE_ROWS])
    embedding_rows = (
        rows if len(rows) <= EMBEDDING_ROWS else np.sort(rng.choice(rows, EMBEDDING_ROWS, replace=False))
    )
    return {
        "format": PROFILE_FORMAT,
        "model": model,
        "rows": signals.rows,
        "features": {name: _floats(values[rows]) for name, values in signals.features.items()},
        "prediction": {name: _floats(values[rows]) for name, values in signals.prediction.items()},
        "categories": {name: [str(v) for v in values[rows]] for name, values in signals.categories.items()},
        "embedding": None
        if signals.embedding is None
        else np.round(signals.embedding[embedding_rows], 5).tolist(),
        "context": context,
    }


def profile_signals(profile: dict[str, Any]) -> Signals:
    """The reference ``Signals`` stored in a profile.json payload."""
    embedding = profile.get("embedding")
    return Signals(
        features={name: np.asarray(values, np.float64) for name, values in profile["features"].items()},
        prediction={name: np.asarray(values, np.float64) for name, values in profile["prediction"].items()},
        categories={name: np.asarray(values, dtype=str) for name, values in profile["categories"].items()},
        embedding=None if embedding is None else np.asarray(embedding, np.float32),
    )


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
