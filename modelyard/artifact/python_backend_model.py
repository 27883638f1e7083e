"""Triton python-backend model that serves the TorchScript file beside it (``model.pt``).

Copied as ``model.py`` into every version folder of a model repository, so it must stay
generic and import only torch, numpy and ``triton_python_backend_utils``: the same file runs
in the local ``tritonserver`` of the nvidia-pytriton wheel and in the official Triton image.

Tensor names, order and dtypes come from the model's ``config.pbtxt``: the module is called
with the inputs in config order and may return one tensor, a tuple (config output order)
or a dict keyed by output name. Requests that Triton's dynamic batcher hands over together
are concatenated into one forward pass and split back per request.
"""

import json
from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

TORCHSCRIPT_FILE = "model.pt"


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.batching = config.get("max_batch_size", 0) > 0
        self.input_names = [spec["name"] for spec in config["input"]]
        self.output_names = [spec["name"] for spec in config["output"]]
        self.output_dtypes = {
            spec["name"]: pb_utils.triton_string_to_numpy(spec["data_type"]) for spec in config["output"]
        }
        self.device = _pick_device(args["model_instance_kind"], args["model_instance_device_id"])
        path = Path(args["model_repository"]) / args["model_version"] / TORCHSCRIPT_FILE
        self.module = torch.jit.load(str(path), map_location=self.device).eval()

    def execute(self, requests):
        try:
            batches = [self._read_inputs(request) for request in requests]
        except ValueError as error:
            return [_error_response(str(error)) for _ in requests]
        if self.batching and _can_concatenate(batches):
            return self._run_together(batches)
        return [self._run_alone(batch) for batch in batches]

    def _read_inputs(self, request):
        arrays = []
        for name in self.input_names:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"missing input tensor '{name}'; expected {self.input_names}")
            array = tensor.as_numpy()
            if array.dtype == np.object_:
                raise ValueError(f"input '{name}' is a string tensor; this TorchScript model takes numbers")
            arrays.append(array)
        return arrays

    def _run_together(self, batches):
        sizes = [len(batch[0]) for batch in batches]
        joined = [np.concatenate(column) for column in zip(*batches, strict=True)]
        try:
            outputs = self._forward(joined)
        except Exception:  # one bad request must not fail its batch-mates: retry each alone
            return [self._run_alone(batch) for batch in batches]
        bounds = np.cumsum(sizes)[:-1]
        per_request = {name: np.split(array, bounds) for name, array in outputs.items()}
        return [
            _response({name: parts[index] for name, parts in per_request.items()})
            for index in range(len(batches))
        ]

    def _run_alone(self, batch):
        try:
            return _response(self._forward(batch))
        except Exception as error:
            return _error_response(f"model failed on this request: {error}")

    def _forward(self, arrays):
        tensors = [torch.from_numpy(np.ascontiguousarray(array)).to(self.device) for array in arrays]
        with torch.inference_mode():
            result = self.module(*tensors)
        named = self._name_outputs(result)
        return {
            name: named[name].detach().cpu().numpy().astype(self.output_dtypes[name], copy=False)
            for name in self.output_names
        }

    def _name_outputs(self, result):
        if isinstance(result, dict):
            missing = [name for name in self.output_names if name not in result]
            if missing:
                raise ValueError(f"module returned no output named {missing}")
            return result
        if isinstance(result, torch.Tensor):
            result = (result,)
        if len(result) != len(self.output_names):
            raise ValueError(f"module returned {len(result)} outputs, config names {self.output_names}")
        return dict(zip(self.output_names, result, strict=True))


def _pick_device(instance_kind, device_id):
    """GPU instances run on their own CUDA device; anything else (or no CUDA) on CPU."""
    if instance_kind == "GPU" and torch.cuda.is_available():
        return torch.device(f"cuda:{device_id}")
    return torch.device("cpu")


def _can_concatenate(batches):
    """One forward pass needs every request to agree on all non-batch dims."""
    first = [array.shape[1:] for array in batches[0]]
    return all([array.shape[1:] for array in batch] == first for batch in batches[1:])


def _response(outputs):
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, array) for name, array in outputs.items()]
    )


def _error_response(message):
    return pb_utils.InferenceResponse(
        output_tensors=[], error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG)
    )
