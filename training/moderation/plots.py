"""PR curves of the model and the TF-IDF baseline, with the chosen operating points marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def plot_pr_curves(curves: dict[str, Any], path: Path) -> None:
    """One panel per head; the block and review points are the TEST precision/recall at the
    thresholds chosen on validation."""
    heads = curves["heads"]
    figure = Figure(figsize=(5.5 * len(heads), 4.5))
    for axes, (head, curve) in zip(
        figure.subplots(1, len(heads), squeeze=False)[0], heads.items(), strict=True
    ):
        axes.plot(
            curve["model"]["recall"],
            curve["model"]["precision"],
            label=f"model (AP {curve['model_pr_auc']:.3f})",
        )
        axes.plot(
            curve["baseline"]["recall"],
            curve["baseline"]["precision"],
            linestyle="--",
            label=f"TF-IDF + LR (AP {curve['baseline_pr_auc']:.3f})",
        )
        for point, marker, color in (("block", "s", "crimson"), ("review", "o", "seagreen")):
            at = curve["operating_points"][point]
            axes.scatter(
                [at["recall"]],
                [at["precision"]],
                marker=marker,
                s=60,
                zorder=3,
                color=color,
                label=f"model {point} point (test)",
            )
        axes.axhline(curve["base_rate"], color="grey", linewidth=0.8, label="base rate")
        axes.set(
            title=f"{head}: precision-recall on test", xlabel="recall", ylabel="precision", ylim=(0, 1.02)
        )
        axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
