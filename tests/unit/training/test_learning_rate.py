"""The training loop's learning-rate schedules (closed forms, so a resumed job needs no scheduler state)."""

from __future__ import annotations

import math

import pytest
import torch

from training.loop import cosine_lr, learning_rate, one_cycle_lr


def test_cosine_learning_rate_starts_at_base_and_decays() -> None:
    rates = [cosine_lr(0.1, epoch, 4) for epoch in range(4)]
    assert rates[0] == 0.1
    assert rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx(0.05)
    assert cosine_lr(0.1, 2, 8) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 4)))


@pytest.mark.parametrize("total_steps", [7, 50, 321])
def test_one_cycle_is_torch_one_cycle_lr_at_every_step(total_steps: int) -> None:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=4e-3, total_steps=total_steps, cycle_momentum=False
    )
    expected = []
    for _ in range(total_steps):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert [one_cycle_lr(4e-3, step, total_steps) for step in range(total_steps)] == pytest.approx(expected)


def test_one_cycle_peaks_at_max_lr_and_ends_near_zero() -> None:
    rates = [one_cycle_lr(0.01, step, 100) for step in range(100)]
    assert max(rates) == pytest.approx(0.01)
    assert rates[0] == pytest.approx(0.01 / 25)
    assert rates[-1] < 1e-6
    assert one_cycle_lr(0.01, 150, 100) == rates[-1]  # a longer epoch than planned stays at the end


def test_learning_rate_follows_the_configured_schedule() -> None:
    config = {"lr": 0.01, "epochs": 4}
    assert learning_rate(config, 2, 5, 10) == cosine_lr(0.01, 2, 4)
    one_cycle = {**config, "lr_schedule": "one_cycle"}
    assert learning_rate(one_cycle, 2, 5, 10) == one_cycle_lr(0.01, 25, 40)
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate({**config, "lr_schedule": "step"}, 0, 0, 10)
