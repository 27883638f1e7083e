"""A registered version shaped like training's: ``model/model_repository/<triton model>/...``."""

from __future__ import annotations

from pathlib import Path

import mlflow
import torch

from modelyard.artifact.model_repository import write_model_repository
from modelyard.artifact.triton_config import TensorSpec
from modelyard.registry import Registry, ResolvedVersion

TRITON_MODEL = "scorer"


class Scorer(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1, keepdim=True)


def register_triton_version(registry: Registry, model: str, folder: Path) -> ResolvedVersion:
    """Write a one-model Triton repository under ``folder``, log it as the run artifact ``model``
    and register it as the next version of ``model``."""
    write_model_repository(
        folder / "model_repository",
        TRITON_MODEL,
        torch.jit.script(Scorer()),
        [TensorSpec("x", "float32", (4,))],
        [TensorSpec("score", "float32", (1,))],
    )
    with registry.start_run(model, dataset_digest="sha256:test") as run:
        mlflow.log_metric("auc", 0.75)
        mlflow.log_artifacts(str(folder), "model")
    return registry.register(run.info.run_id, "model", model)
