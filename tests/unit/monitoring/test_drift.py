"""The drift tests: quiet on samples from the reference's own distribution, loud on shifted ones,
and Holm's correction keeps a window of many signals to one family-wise error rate."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.drift import (
    FEATURE,
    PERMUTATIONS,
    SignalTest,
    chi2_test,
    holm,
    ks_test,
    mmd_test,
    psi,
)
from monitoring.monitor import compare
from training.profile import Signals

WINDOW = 300


def gaussian_signals(rng: np.random.Generator, rows: int, shift: float = 0.0, flip: float = 0.0) -> Signals:
    """Four features, a score, a three-way decision and a 16-dim embedding; ``shift`` moves every
    continuous signal, ``flip`` moves decisions towards "block"."""
    decisions = rng.choice(["allow", "review", "block"], size=rows, p=[0.7 - flip, 0.2, 0.1 + flip])
    return Signals(
        features={f"f{i}": rng.normal(shift, 1.0, rows) for i in range(4)},
        prediction={"score": rng.beta(2 + 4 * shift, 5, rows)},
        categories={"decision": decisions},
        embedding=rng.normal(shift, 1.0, (rows, 16)).astype(np.float32),
    )


def test_three_in_distribution_windows_raise_no_alarm_and_a_shifted_one_does() -> None:
    rng = np.random.default_rng(7)
    reference = gaussian_signals(rng, 2000)
    for _ in range(3):
        tests = compare(reference, gaussian_signals(rng, WINDOW))
        assert not any(t.drift for t in tests), [t.as_json() for t in tests if t.drift]
    shifted = compare(reference, gaussian_signals(rng, WINDOW, shift=0.5, flip=0.3))
    assert all(t.drift for t in shifted), [t.as_json() for t in shifted if not t.drift]
    assert {t.kind for t in shifted} == {"feature", "prediction", "category", "embedding"}


def test_in_distribution_false_alarm_rate_stays_near_the_family_alpha() -> None:
    """Many windows of continuous signals (cheap KS only): Holm keeps the share that alarms
    near the family-wise alpha (0.01), here measured over 100 windows."""
    rng = np.random.default_rng(11)
    reference = Signals(features={f"f{i}": rng.normal(size=2000) for i in range(6)}, prediction={})
    alarms = 0
    for _ in range(100):
        current = Signals(features={f"f{i}": rng.normal(size=WINDOW) for i in range(6)}, prediction={})
        alarms += any(t.drift for t in compare(reference, current))
    assert alarms <= 3


def test_ks_sees_a_small_location_shift_and_reports_psi() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=2000)
    same = ks_test("x", FEATURE, reference, rng.normal(size=WINDOW))
    moved = ks_test("x", FEATURE, reference, rng.normal(0.4, 1.0, WINDOW))
    assert same.p_value > 0.01 > moved.p_value
    assert same.psi < 0.1 < moved.psi


def test_psi_is_zero_on_identical_samples_and_large_on_disjoint_ones() -> None:
    values = np.linspace(0, 1, 1000)
    assert psi(values, values) == pytest.approx(0.0, abs=1e-9)
    assert psi(values, values + 2.0) > 1.0


def test_chi2_on_decisions_with_rare_categories_uses_permutations() -> None:
    rng = np.random.default_rng(3)
    reference = rng.choice(["allow", "review", "block"], size=2000, p=[0.97, 0.02, 0.01])
    same = chi2_test(
        "decision", reference, rng.choice(["allow", "review", "block"], 300, p=[0.97, 0.02, 0.01])
    )
    moved = chi2_test("decision", reference, rng.choice(["allow", "review", "block"], 300, p=[0.8, 0.1, 0.1]))
    assert same.p_value > 0.01 and moved.p_value <= 2 / (PERMUTATIONS + 1)
    assert moved.statistic > same.statistic


def test_chi2_of_one_category_on_both_sides_is_no_evidence() -> None:
    result = chi2_test("decision", np.array(["allow"] * 50), np.array(["allow"] * 40))
    assert result.p_value == 1.0 and result.statistic == 0.0


def test_mmd_tells_a_rotated_embedding_cloud_from_the_same_cloud() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(10, 32))

    def cloud(rows: int, rotate: bool = False) -> np.ndarray:
        points = centres[rng.integers(0, 10, rows)] + 0.3 * rng.normal(size=(rows, 32))
        return points[:, ::-1] if rotate else points

    reference = cloud(300)
    assert mmd_test("embedding", reference, cloud(300)).p_value > 0.01
    assert mmd_test("embedding", reference, cloud(300, rotate=True)).p_value < 0.001


def test_holm_steps_down_and_stops_at_the_first_kept_hypothesis() -> None:
    tests = [
        SignalTest(name, FEATURE, "ks", 0.0, p)
        for name, p in zip("abcd", (0.04, 0.001, 0.013, 0.2), strict=True)
    ]
    holm(tests, alpha=0.05)
    by_name = {t.name: t for t in tests}
    assert by_name["b"].threshold == pytest.approx(0.05 / 4) and by_name["b"].drift
    assert by_name["c"].threshold == pytest.approx(0.05 / 3) and by_name["c"].drift
    assert by_name["a"].threshold == pytest.approx(0.05 / 2) and not by_name["a"].drift
    assert by_name["d"].threshold == pytest.approx(0.05) and not by_name["d"].drift
    stopped = holm([SignalTest(n, FEATURE, "ks", 0.0, p) for n, p in (("x", 0.03), ("y", 0.031))], alpha=0.05)
    assert not any(t.drift for t in stopped), "0.03 > 0.05/2: Holm stops, even though 0.031 <= 0.05"
