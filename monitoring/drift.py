"""Two-sample drift tests on one window of traffic against the version's reference profile.

scipy's tests, not a drift library: evidently and alibi-detect would bring dozens of packages
(alibi-detect: tensorflow or torch extras, numba; evidently: its own UI stack) into the
hash-locked ``requirements/lock.txt``, while the tests drift needs are a few lines over scipy,
which is already locked (see docs/operations.md, "Monitoring and retraining").

Every test gives a p-value; a window drifts when any test rejects after Holm's correction over all
of the window's tests, so adding signals does not add false alarms (family-wise error
``FAMILY_ALPHA`` per window).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

FAMILY_ALPHA = 0.01
"""Chance that a window of in-distribution traffic raises any alarm (Holm over its tests)."""
PERMUTATIONS = 2000
"""Permutations behind the MMD p-value: its smallest value, 1/2001, stays below Holm's smallest
threshold for a dozen tests (0.01 / 12)."""
PSI_BINS = 10
MIN_EXPECTED = 5.0
"""Below this expected count in a category cell, chi-squared's p-value comes from permutations."""
MMD_ROWS = 300
"""Each side of the MMD test is cut to this many rows (its cost grows with the square)."""
_EPS = 1e-4

FEATURE, PREDICTION, CATEGORY, EMBEDDING = "feature", "prediction", "category", "embedding"


@dataclass
class SignalTest:
    """One signal's test in one window."""

    name: str
    kind: str
    """feature | prediction (KS) | category (chi-squared) | embedding (MMD)."""
    test: str
    statistic: float
    p_value: float | None
    psi: float | None = None
    """Population stability index of the same samples (reported, not used to decide)."""
    threshold: float | None = None
    """The p-value below which this test counts as drift, after Holm's correction."""
    drift: bool = False

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def ks_test(name: str, kind: str, reference: np.ndarray, current: np.ndarray) -> SignalTest:
    """Kolmogorov-Smirnov on a continuous signal (conservative where values tie, as counts do).
    The asymptotic p-value: scipy's exact one costs seconds at thousands of rows and differs
    little at the window sizes the monitor tests (``MIN_ROWS`` and up)."""
    result = stats.ks_2samp(reference, current, method="asymp")
    return SignalTest(
        name, kind, "ks", float(result.statistic), float(result.pvalue), psi(reference, current)
    )


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index over the reference's quantile bins (ties merge bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return _psi_of_counts(expected, actual)


def _psi_of_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected / max(expected.sum(), 1), _EPS)
    a = np.maximum(actual / max(actual.sum(), 1), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def chi2_test(name: str, reference: np.ndarray, current: np.ndarray, seed: int = 0) -> SignalTest:
    """Chi-squared of a category's counts in the window against the reference (Pearson, no
    continuity correction); small expected counts take the p-value from label permutations."""
    categories = sorted(set(reference.tolist()) | set(current.tolist()))
    table = np.array([[np.sum(side == c) for c in categories] for side in (reference, current)])
    population = _psi_of_counts(table[0], table[1])
    if len(categories) < 2:
        return SignalTest(name, CATEGORY, "chi2", 0.0, 1.0, population)
    statistic, p_value, _, expected = stats.chi2_contingency(table, correction=False)
    if expected.min() < MIN_EXPECTED:
        p_value = _chi2_permutation_p(reference, current, categories, float(statistic), seed)
    return SignalTest(name, CATEGORY, "chi2", float(statistic), float(p_value), population)


def _chi2_permutation_p(
    reference: np.ndarray, current: np.ndarray, categories: list[str], observed: float, seed: int
) -> float:
    codes = np.searchsorted(np.array(categories), np.concatenate([reference, current]))
    rng = np.random.default_rng(seed)
    k, n = len(categories), len(reference)
    totals = np.bincount(codes, minlength=k)
    expected_share = totals / totals.sum()
    exceed = 0
    for _ in range(PERMUTATIONS):
        shuffled = rng.permutation(codes)
        first = np.bincount(shuffled[:n], minlength=k)
        table = np.stack([first, totals - first])
        expected = np.outer(table.sum(axis=1), expected_share)
        exceed += np.sum((table - expected) ** 2 / np.maximum(expected, 1e-12)) >= observed - 1e-9
    return (exceed + 1) / (PERMUTATIONS + 1)


def mmd_test(name: str, reference: np.ndarray, current: np.ndarray, seed: int = 0) -> SignalTest:
    """Maximum mean discrepancy with a Gaussian kernel (median-distance bandwidth) between
    embeddings; the p-value is the share of label permutations with an MMD at least as large."""
    rng = np.random.default_rng(seed)
    reference, current = _cut(reference, rng), _cut(current, rng)
    pooled = np.concatenate([reference, current]).astype(np.float64)
    squared = np.sum(pooled**2, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T, 0.0)
    bandwidth = np.median(distances[np.triu_indices(len(pooled), k=1)]) or 1.0
    kernel = np.exp(-distances / bandwidth)
    n, total = len(reference), len(pooled)
    labels = np.stack([rng.permutation(total) < n for _ in range(PERMUTATIONS)], axis=1)
    labels = np.concatenate([(np.arange(total) < n)[:, None], labels], axis=1)
    weights = np.where(labels, 1.0 / n, -1.0 / (total - n))
    mmd = np.sum(weights * (kernel @ weights), axis=0)
    observed, permuted = mmd[0], mmd[1:]
    p_value = (np.sum(permuted >= observed - 1e-12) + 1) / (PERMUTATIONS + 1)
    return SignalTest(name, EMBEDDING, "mmd", float(observed), float(p_value))


def _cut(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= MMD_ROWS else rows[np.sort(rng.choice(len(rows), MMD_ROWS, replace=False))]


def holm(tests: list[SignalTest], alpha: float = FAMILY_ALPHA) -> list[SignalTest]:
    """Holm's step-down correction: the k-th smallest p-value is held to alpha / (m - k + 1), and
    once one test passes, every later (larger) one passes too. Sets ``threshold`` and ``drift``."""
    ranked = sorted((t for t in tests if t.p_value is not None), key=lambda t: t.p_value)
    rejecting = True
    for rank, test in enumerate(ranked):
        test.threshold = alpha / (len(ranked) - rank)
        rejecting = rejecting and test.p_value <= test.threshold
        test.drift = rejecting
    return tests
