"""A version's Triton models as TorchScript modules in this process: the serving benchmark's floor and
the predictor of its plain-KServe baseline.

Each module is called as the Triton python backend calls it (modelyard/artifact/python_backend_model.py):
inputs in the signature's order, outputs named by the signature (the module returns one tensor, a
tuple or a dict), cast to the signature's dtypes. So the floor and the baseline compute exactly what
Triton computes, minus Triton.
"""

from __future__ import annotations

import numpy as np
import torch

from modelyard.artifact.layout import MODEL_REPOSITORY, SOURCE_VERSION, TORCHSCRIPT_FILE
from serving.transformer.version import VersionState


class TorchScriptModels:
    """Every Triton model of one version, loaded on CPU in eval mode."""

    def __init__(self, state: VersionState) -> None:
        self.signature = state.signature
        repository = state.artifact_dir / MODEL_REPOSITORY
        self.modules = {
            name: torch.jit.load(
                str(repository / name / SOURCE_VERSION / TORCHSCRIPT_FILE), map_location="cpu"
            )
            for name in state.triton_models
        }
        for module in self.modules.values():
            module.eval()

    def forward(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One forward pass of ``model`` on named arrays; every output, named."""
        spec = self.signature[model]
        tensors = [torch.from_numpy(np.ascontiguousarray(inputs[t["name"]])) for t in spec["inputs"]]
        with torch.inference_mode():
            result = self.modules[model](*tensors)
        names = [t["name"] for t in spec["outputs"]]
        if not isinstance(result, dict):
            result = dict(zip(names, (result,) if isinstance(result, torch.Tensor) else result, strict=True))
        return {t["name"]: result[t["name"]].numpy().astype(t["dtype"], copy=False) for t in spec["outputs"]}
