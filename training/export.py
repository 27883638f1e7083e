"""Turning a trained model into the files a registered version carries.

A version folder (logged as the MLflow artifact ``model``) holds everything serving needs and
everything an auditor asks for::

    model_repository/<triton model>/{config.pbtxt,1/...}   Triton models (TorchScript)
    preprocessing.json   how serving turns a request into the model's input tensors
    signature.json       each Triton model's input/output tensors
    config.json          training config + task meta + run facts
    eval/report.json     metrics, baseline, per-epoch history, curves
    eval/<plot>.png      the task's plot
    <artifact>.json      task artifacts (e.g. thresholds.json)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelyard.errors import ModelyardError
from serving.triton.repository import write_model_repository
from training.task import ExportedModel

MODEL_REPOSITORY = "model_repository"
PLOT_FILE = "eval/report.png"
REPORT_FILE = "eval/report.json"


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
    _write_json(out / "signature.json", signature)
    _write_json(out / "preprocessing.json", preprocessing)
    _write_json(out / "config.json", config)
    _write_json(out / REPORT_FILE, report)
    for stem, payload in artifacts.items():
        _write_json(out / f"{stem}.json", payload)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
