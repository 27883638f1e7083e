"""bench.soak_bench's arithmetic on a made-up run: windows, their memory, drift and growth."""

from __future__ import annotations

import numpy as np
import pytest

from bench.load import LoadResult
from bench.soak_bench import MIB, summarize, window_table


def run(latency_per_window_ms: list[float], errors_in_window: int = -1) -> LoadResult:
    """100 requests per 10 s window, each window at its own latency; one window may hold 3 errors."""
    started, latency, status = [], [], []
    for index, ms in enumerate(latency_per_window_ms):
        started += list(np.linspace(index * 10, index * 10 + 9.9, 100))
        latency += [ms] * 100
        status += [500 if index == errors_in_window and row < 3 else 200 for row in range(100)]
    count = len(latency_per_window_ms)
    return LoadResult(4, np.array(started), np.array(latency), np.array(status), elapsed_s=count * 10 + 0.5)


def rss_every_2_s(mib_per_window: list[float]) -> list[tuple[float, int]]:
    return [(at, int(mib_per_window[int(at // 10)] * MIB)) for at in range(0, 10 * len(mib_per_window), 2)]


def test_windows_carry_their_latency_errors_and_median_memory() -> None:
    soak = summarize(
        run([50, 10, 12, 20], errors_in_window=2), rss_every_2_s([900, 1000, 1030, 1050]), 10.0, 1
    )

    assert [w.start_s for w in soak.windows] == [0, 10, 20, 30]
    assert [w.p99_ms for w in soak.windows] == [50, 10, 12, 20]
    assert [w.errors for w in soak.windows] == [0, 0, 3, 0] and soak.errors == 3
    assert [w.rss_mib for w in soak.windows] == [900, 1000, 1030, 1050]
    assert [w.start_s for w in soak.measured] == [10, 20, 30]
    assert soak.p99_drift == pytest.approx(2.0)  # 20 ms last over 10 ms first, the warm-up's 50 ignored
    assert soak.rss_growth == pytest.approx(0.05)  # 1050 over 1000, the warm-up's 900 ignored


def test_a_run_too_short_for_its_warm_up_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        summarize(run([10, 10]), rss_every_2_s([1, 1]), 10.0, 1)


def test_a_window_without_memory_samples_cannot_give_a_growth() -> None:
    soak = summarize(run([10, 10, 10]), [(0.0, MIB)], 10.0, 1)

    assert soak.windows[1].rss_mib is None
    with pytest.raises(ValueError, match="no memory sample"):
        _ = soak.rss_growth


def test_the_table_labels_warm_up_windows_and_numbers_the_rest() -> None:
    columns, rows = window_table(summarize(run([10, 10, 10, 10]), rss_every_2_s([1, 1, 1, 1]), 10.0, 2))

    assert len(columns) == len(rows[0])
    assert [row[0] for row in rows] == ["warm-up", "warm-up", 1, 2]
