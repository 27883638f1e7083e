"""Reliability diagram: does a predicted 0.7 click probability mean 70% clicks? Model vs baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def plot_reliability(curves: dict[str, Any], path: Path) -> None:
    """Observed click rate against mean prediction per probability bin (empty bins skipped)."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="perfectly calibrated")
    for name, style in (("model", "-o"), ("baseline", "--s")):
        bins = curves[name]
        points = [
            (x, y)
            for x, y in zip(bins["mean_predicted"], bins["observed_rate"], strict=True)
            if x is not None
        ]
        axes.plot(*zip(*points, strict=True), style, label=f"{name} (ECE {curves[f'{name}_ece']:.3f})")
    axes.set(
        title="Click model calibration on test",
        xlabel="mean predicted click probability",
        ylabel="observed click rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
