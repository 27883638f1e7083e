"""The serving benchmark's rounds: a path's alternating rounds merge into one run."""

from __future__ import annotations

from collections import Counter

import numpy as np

from bench.load import LoadResult
from bench.serving_bench import merged


def result(latencies: list[float], statuses: list[int], elapsed_s: float, failures: Counter) -> LoadResult:
    n = len(latencies)
    return LoadResult(
        8, np.arange(n, dtype=float), np.array(latencies), np.array(statuses), elapsed_s, failures
    )


def test_rounds_merge_every_answer_and_add_their_time() -> None:
    first = result([1.0, 2.0], [200, 200], 1.0, Counter())
    second = result([3.0, 4.0, 5.0], [200, 503, 200], 1.5, Counter({"503: busy": 1}))
    whole = merged([first, second])
    assert whole.requests == 5 and whole.errors == 1
    assert whole.elapsed_s == 2.5
    assert whole.summary()["rps"] == 2.0
    assert sorted(whole.latency_ms.tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert whole.failures == Counter({"503: busy": 1})
