"""The promotion gate with extra windows (e.g. the recent labelled feedback): a challenger must
not be worse than the champion on any of them."""

from __future__ import annotations

from modelyard.registry.policy import decide_on_windows, decide_promotion


def test_passes_when_held_out_and_recent_window_pass() -> None:
    held_out = decide_promotion(0.985, 0.989, higher_is_better=True, tolerance=0.005)
    decision = decide_on_windows(held_out, {"recent": (0.97, 0.71)}, True, 0.005)
    assert decision.alias == "challenger"
    assert "recent window" in decision.reason and decision.candidate == 0.985


def test_worse_on_the_recent_window_is_rejected_even_when_held_out_passes() -> None:
    held_out = decide_promotion(0.995, 0.989, higher_is_better=True)
    decision = decide_on_windows(held_out, {"recent": (0.60, 0.80)}, True, 0.005)
    assert decision.alias is None
    assert decision.reason.startswith("recent window: 0.6 is worse than champion 0.8")


def test_windows_do_not_rescue_a_held_out_rejection_nor_block_a_first_champion() -> None:
    rejected = decide_promotion(0.90, 0.99, higher_is_better=True)
    assert decide_on_windows(rejected, {"recent": (1.0, 0.1)}, True).alias is None
    first = decide_promotion(0.90, None, higher_is_better=True)
    assert decide_on_windows(first, {"recent": (0.1, 1.0)}, True).alias == "champion"


def test_lower_is_better_windows() -> None:
    held_out = decide_promotion(0.20, 0.25, higher_is_better=False)
    assert decide_on_windows(held_out, {"recent": (0.30, 0.20)}, False).alias is None
    assert decide_on_windows(held_out, {"recent": (0.10, 0.20)}, False).alias == "challenger"
