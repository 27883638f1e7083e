"""Turning a trained model into the files a registered version carries (the layout is
``modelyard.artifact.layout``): Triton models (TorchScript), preprocessing, signature, the
training config, the evaluation report and the task's own artifacts (e.g. thresholds.json, or an
array such as ranking's item_vectors.npy).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelyard.artifact.layout import (
    MODEL_REPOSITORY,
    PREPROCESSING_FILE,
    REPORT_FILE,
    SIGNATURE_FILE,
    TRAINING_CONFIG_FILE,
)
from modelyard.artifact.model_repository import write_model_repository
from modelyard.errors import ModelyardError
from training.base import ExportedModel


class ExportError(ModelyardError):
    """The TorchScript export does not reproduce the trained model."""


def to_torchscript(model: nn.Module, *example: torch.Tensor, atol: float = 1e-5) -> torch.jit.ScriptModule:
    """``torch.jit.script`` a CPU, eval-mode copy of ``model`` and prove it computes what the eager
    model computes on ``example`` (a scripted module that silently diverges would be served)."""
    model = model.cpu().eval()
    scripted = torch.jit.script(model)
    with torch.inference_mode():
        eager_out, scripted_out = model(*example), scripted(*example)
    for eager, script in zip(_as_tuple(eager_out), _as_tuple(scripted_out), strict=True):
        if not torch.allclose(eager, script, atol=atol):
            gap = (eager - script).abs().max().item()
            raise ExportError(
                f"TorchScript output differs from the eager model by {gap:.3g} (> {atol})",
                hint="remove data-dependent Python control flow from forward(), or trace it instead",
            )
    return scripted


def _as_tuple(output: Any) -> tuple[torch.Tensor, ...]:
    return tuple(output) if isinstance(output, tuple | list) else (output,)


def write_version(
    out: Path,
    exported: list[ExportedModel],
    preprocessing: dict[str, Any],
    config: dict[str, Any],
    report: dict[str, Any],
    artifacts: dict[str, Any],
) -> None:
    """Write every file of a version folder except the plot (the task draws it at ``PLOT_FILE``)."""
    repository = out / MODEL_REPOSITORY
    for model in exported:
        write_model_repository(
            repository,
            model.name,
            model.module,
            model.inputs,
            model.outputs,
            max_batch_size=model.max_batch_size,
        )
    signature = {
        model.name: {
            "inputs": [asdict(spec) for spec in model.inputs],
            "outputs": [asdict(spec) for spec in model.outputs],
            "max_batch_size": model.max_batch_size,
        }
        for model in exported
    }
    _write_json(out / SIGNATURE_FILE, signature)
    _write_json(out / PREPROCESSING_FILE, preprocessing)
    _write_json(out / TRAINING_CONFIG_FILE, config)
    _write_json(out / REPORT_FILE, report)
    for stem, payload in artifacts.items():
        if isinstance(payload, np.ndarray):
            np.save(out / f"{stem}.npy", payload, allow_pickle=False)
        else:
            _write_json(out / f"{stem}.json", payload)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
