"""The training outcome table: baseline-only metrics (extra baselines, fit times) get rows too."""

from __future__ import annotations

from rich.console import Console

from training.report import outcome_table
from training.runner import TrainOutcome


def test_metrics_only_a_baseline_has_get_a_row_with_an_empty_model_cell() -> None:
    outcome = TrainOutcome(
        model="ranking",
        version=2,
        run_id="r",
        headline_metric="auc",
        higher_is_better=True,
        metrics={"auc": 0.8, "recall_at_100": 0.48},
        baseline={"auc": 0.78, "recall_at_100": 0.35, "ease_recall_at_100": 0.58},
        champion=None,
        champion_version=None,
        alias="champion",
        reason="no champion yet",
        epochs=5,
        resumed_from_epoch=0,
        train_seconds=1.0,
        total_seconds=2.0,
        artifacts=[],
    )
    console = Console(width=120, record=True)
    console.print(outcome_table(outcome))
    lines = console.export_text().splitlines()
    ease = next(line for line in lines if "ease_recall_at_100" in line)
    cells = [cell.strip() for cell in ease.strip("│ ").split("│")]
    assert cells[:3] == ["ease_recall_at_100", "-", "0.5800"]  # no model value, the baseline's shown
    assert lines.index(ease) > next(i for i, line in enumerate(lines) if "auc" in line)  # headline first
