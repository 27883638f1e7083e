"""What a training job is asked (``TrainOptions``) and what its Ray workers hand back
(``TrainedModel``): shared by the runner, which fits, and versioning, which registers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from modelyard.errors import UsageError


@dataclass(frozen=True)
class TrainOptions:
    """What the command line can change about a training job (the task's config holds the rest)."""

    workers: int = 2
    gpu: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    smoke: bool = False
    resume: bool = True
    tolerance: float = 0.0
    address: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config values replacing the task's defaults (e.g. the best trial of ``yard tune``)."""
    show_progress: bool = True
    feedback: Path | None = None
    """Labelled feedback to learn from and be gated on too (``training.feedback``; ``yard retrain``)."""

    def __post_init__(self) -> None:
        for name in ("workers", "epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} is {value}",
                    hint=f"give --{name.replace('_', '-')} 1 or more",
                )
        if self.tolerance < 0:
            raise UsageError(
                f"--tolerance is {self.tolerance}", hint="give a tolerance >= 0 (0 = must not be worse)"
            )


@dataclass
class TrainedModel:
    """What ``fit`` hands back to the driver."""

    model: nn.Module
    config: dict[str, Any]
    history: list[dict[str, float]]
    ray_run: str
    resumed_from_epoch: int
    seconds: float
