"""Draw a result's ``charts`` (JSON specs) into one PNG, so no benchmark carries plotting code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

PANEL_WIDTH, PANEL_HEIGHT, DPI = 6.0, 4.0, 100


def draw_charts(charts: list[dict[str, Any]], title: str, path: Path) -> Path:
    """One panel per chart, side by side; ``None`` values (not measured) leave a gap, not a zero."""
    fig, axes = plt.subplots(1, len(charts), figsize=(PANEL_WIDTH * len(charts), PANEL_HEIGHT), squeeze=False)
    for ax, chart in zip(axes[0], charts, strict=True):
        _grouped_bars(ax, chart)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _grouped_bars(ax: Any, chart: dict[str, Any]) -> None:
    categories, series = chart["categories"], chart["series"]
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    for index, (label, values) in enumerate(series.items()):
        heights = [np.nan if value is None else value for value in values]
        bars = ax.bar(x + (index - (len(series) - 1) / 2) * width, heights, width, label=label)
        ax.bar_label(bars, fmt=_short, fontsize=7, padding=1)
    ax.set_xticks(x, categories)
    ax.set_ylabel(chart["ylabel"])
    ax.set_title(chart["title"], fontsize=10)
    if chart.get("log"):
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize=8)
