"""The contract between the generic framework (Ray + MLflow) and the three model tasks.

A task knows its data, model, loss, evaluation and export; the framework knows Ray, MLflow,
checkpoints and Triton. Tasks never talk to Ray or MLflow, so each stays testable on its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from modelyard.artifact.triton_config import TensorSpec
from modelyard.errors import UsageError
from modelyard.settings import Settings
from training.feedback import LabelledRows

__all__ = ["Evaluation", "ExportedModel", "TaskData", "TensorSpec", "TrainTask"]


@dataclass(frozen=True)
class TaskData:
    """Arrays the task needs, materialised on the driver once and shipped to Ray workers as
    Ray Data / object refs (never re-pickled per task)."""

    train: dict[str, np.ndarray]
    """Column name -> array, equal first dims (one row = one example)."""
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    digest: str
    """Dataset digest from ``modelyard.data`` (lineage)."""
    meta: dict[str, Any]
    """Vocab sizes, class names, feature cardinalities... (JSON-able); passed to ``build_model``
    and stored with the model."""
    recent: dict[str, np.ndarray] | None = None
    """The recent labelled window from feedback (never trained on), with the scores the serving
    version gave it: the candidate is gated on it too. None: trained without feedback."""


@dataclass
class ExportedModel:
    """One Triton model to put in the version's model repository."""

    name: str
    """Triton model name, e.g. ``visual-search-encoder``."""
    module: torch.jit.ScriptModule
    """CPU, eval mode."""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    max_batch_size: int = 64


@dataclass
class Evaluation:
    """Offline evaluation of a trained model: what is logged, plotted and stored."""

    metrics: dict[str, float]
    """Headline + others, flat names like ``precision_at_10``."""
    curves: dict[str, Any] = field(default_factory=dict)
    """Data for the report plot (JSON-able)."""
    artifacts: dict[str, Any] = field(default_factory=dict)
    """Extra artifacts stored WITH the version (file stem -> payload): JSON, e.g. thresholds, or a
    numpy array (written as ``<stem>.npy``), e.g. ranking's item vectors."""


class TrainTask(ABC):
    """One model: everything model-specific the framework needs, nothing about Ray or MLflow."""

    name: ClassVar[str]
    """Registered model name: ``visual-search`` | ``moderation`` | ``ranking``."""
    headline_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]]
    """lr, epochs, batch_size, model sizes...; the CLI overrides epochs/batch_size and tune
    searches over ``search_space()``."""

    @abstractmethod
    def prepare(self, settings: Settings, smoke: bool) -> TaskData:
        """Driver side: load and split the data; ``smoke`` = a small subset (< ~30 s of training)."""

    @abstractmethod
    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        """A fresh, untrained model for this config (called on workers and on the driver)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> torch.Tensor:
        """Scalar training loss; ``batch`` holds the train columns as tensors on the worker's device."""

    def with_feedback(self, data: TaskData, rows: LabelledRows) -> TaskData:
        """``data`` plus labelled feedback: ``train`` rows appended to the train split, ``recent``
        rows as ``TaskData.recent``. Only models whose feedback is a label (moderation) or a click
        (ranking) can learn from it."""
        raise UsageError(
            f"{self.name} cannot be retrained on feedback yet", hint="yard retrain moderation|ranking"
        )

    def finalize(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> nn.Module:
        """Driver side, after Ray training and before evaluation: parts fitted in closed form on
        the whole train split (e.g. a linear model stacked with the network). Default: as trained."""
        return model

    def augment(self, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Optional training-time augmentation, on the worker (not applied to validation)."""
        return batch

    @abstractmethod
    def evaluate(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> Evaluation:
        """Driver side, on ``data.test`` (and ``data.val`` for thresholds)."""

    def profile(self, model: nn.Module, data: TaskData, evaluation: Evaluation) -> dict[str, Any] | None:
        """Driver side, after evaluation: the reference profile that ``yard monitor`` tests logged
        traffic against (``training.profile.build_profile`` over the validation split, through the
        model's ``signals`` module). None: this model has none."""
        return None

    @abstractmethod
    def baseline(self, data: TaskData) -> dict[str, float]:
        """A simple baseline with the same metric names (logged as ``baseline_<name>``)."""

    @abstractmethod
    def export(
        self, model: nn.Module, data: TaskData, config: dict[str, Any]
    ) -> tuple[list[ExportedModel], dict[str, Any]]:
        """Triton models + the preprocessing config serving needs (stored as preprocessing.json)."""

    @abstractmethod
    def plot(self, evaluation: Evaluation, path: Path) -> None:
        """Write a PNG (PR curve / calibration / retrieval curve) to ``path``."""

    @abstractmethod
    def search_space(self) -> dict[str, Any]:
        """``ray.tune`` distributions over a few hyper-parameters (keys of ``default_config``).

        ``yard tune`` ranks trials by validation loss, so leave out anything that changes the
        loss's scale (temperature, loss weights): their losses would not be comparable."""
