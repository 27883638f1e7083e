"""Training benchmark arithmetic: steady vs end-to-end throughput and the overhead ratios."""

from __future__ import annotations

import pytest

from bench.training_bench import Throughput, as_result


def test_steady_throughput_skips_the_warm_up_epoch() -> None:
    throughput = Throughput("ray-1", rows=1000, epoch_seconds=[10.0, 2.0, 4.0], wall_seconds=32.0)
    assert throughput.steady_samples_per_second == pytest.approx(1000 / 3.0)
    assert throughput.end_to_end_samples_per_second == pytest.approx(3000 / 32.0)


def test_overhead_ratios_compare_variants_of_the_same_model() -> None:
    measured = {
        "a": [
            Throughput("plain", 100, [1.0, 1.0], 2.0),
            Throughput("plain-1t", 100, [1.0, 2.0], 3.0),
            Throughput("ray-1", 100, [5.0, 2.0], 20.0),
            Throughput("ray-2", 100, [5.0, 4.0], 40.0),
        ],
        "b": [
            Throughput("plain", 50, [1.0, 1.0], 2.0),
            Throughput("plain-1t", 50, [1.0, 2.0], 3.0),
            Throughput("ray-1", 50, [1.0, 8.0], 10.0),
            Throughput("ray-2", 50, [1.0, 2.0], 10.0),
        ],
    }
    result = as_result(measured, [], ray_init_seconds=7.0, quick=True)
    ratios = {r["label"]: r["value"] for r in result["ratios"]}
    assert ratios["plain / ray-1 steady (a)"] == 2.0
    assert ratios["plain / ray-1 steady (b)"] == 8.0
    assert ratios["plain / ray-1 steady (geo-mean)"] == 4.0
    assert ratios["ray-1 / ray-2 steady (a)"] == 2.0
    assert ratios["ray-1 / ray-2 steady (b)"] == 0.25
    assert ratios["plain / ray-1 end to end (geo-mean)"] == pytest.approx((10 * 5) ** 0.5, rel=1e-3)
    assert ratios["plain / plain-1t steady (geo-mean)"] == 2.0
    assert list(result["charts"][0]["series"]) == ["plain", "plain-1t", "ray-1", "ray-2"]
    assert [chart["categories"] for chart in result["charts"]] == [["a", "b"], ["a", "b"]]
    assert "Default-config wall time" in [section["title"] for section in result["sections"]]
