"""Validation shared by the three request codecs: every client mistake becomes ``InvalidInput``
(HTTP 400 / gRPC INVALID_ARGUMENT) with a message that names the field and what was wrong.

Pure functions over decoded JSON or kserve ``InferRequest`` objects: no servers, no models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

MAX_INSTANCES = 64
"""Items per request: bigger batches go through the gateway in several calls."""


def as_json_object(body: Any) -> dict[str, Any]:
    """The V1 body as a dict; kserve hands raw bytes through when the content type is not JSON."""
    if isinstance(body, bytes | bytearray):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError) as error:  # bad UTF-8/JSON, >4300-digit ints, deep nesting
            raise InvalidInput(f"the request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise InvalidInput(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def reject_unknown_keys(body: Mapping[str, Any], allowed: set[str], where: str = "the request") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"{where} has unknown fields {unknown}; allowed: {sorted(allowed)}")


def instance_list(body: Mapping[str, Any], key: str = "instances") -> list[Any]:
    """The non-empty, capped list under ``key``."""
    if key not in body:
        raise InvalidInput(f'the request needs "{key}": a list of 1 to {MAX_INSTANCES} items')
    items = body[key]
    if not isinstance(items, list):
        raise InvalidInput(f'"{key}" must be a list, got {type(items).__name__}')
    check_count(len(items), key)
    return items


def check_count(count: int, what: str) -> None:
    if count == 0:
        raise InvalidInput(f'"{what}" is empty: send 1 to {MAX_INSTANCES} items')
    if count > MAX_INSTANCES:
        raise InvalidInput(f'"{what}" has {count} items; at most {MAX_INSTANCES} per request')


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (JSON booleans and floats are refused, not coerced)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInput(f'"{name}" must be an integer from {low} to {high}, got {value!r}')
    if not low <= int(value) <= high:
        raise InvalidInput(f'"{name}" is {value}; it must be from {low} to {high}')
    return int(value)


def item_id(value: Any, name: str) -> int:
    """A non-negative integer id."""
    return bounded_int(value, name, 0, 2**63 - 1)


def optional_parameter(
    parameters: Mapping[str, Any] | None, name: str, default: int, low: int, high: int
) -> int:
    """An integer V2 request parameter (``parameters: {"k": 10}``) or its default."""
    if not parameters or name not in parameters:
        return default
    return bounded_int(plain_parameter(parameters[name]), f"parameters.{name}", low, high)


def plain_parameter(value: Any) -> Any:
    """A REST parameter as is; a gRPC ``InferParameter`` as the value its oneof holds."""
    if hasattr(value, "WhichOneof"):
        choice = value.WhichOneof("parameter_choice")
        return getattr(value, choice) if choice else None
    return value


def v2_input(request: InferRequest, name: str, allowed_dtypes: tuple[str, ...]) -> InferInput:
    """The input tensor ``name``, with its datatype checked; unknown extra inputs are refused."""
    names = [tensor.name for tensor in request.inputs]
    if name not in names:
        raise InvalidInput(f"the request has no input {name!r} (got {names})")
    tensor = request.inputs[names.index(name)]
    if tensor.datatype not in allowed_dtypes:
        raise InvalidInput(
            f"input {name!r} has datatype {tensor.datatype}; use one of {list(allowed_dtypes)}"
        )
    return tensor


def reject_unknown_inputs(request: InferRequest, allowed: set[str]) -> None:
    unknown = sorted({tensor.name for tensor in request.inputs} - allowed)
    if unknown:
        raise InvalidInput(f"unknown inputs {unknown}; this model takes {sorted(allowed)}")


def v2_array(tensor: InferInput) -> np.ndarray:
    """The tensor as numpy; a shape that does not match the data count is the client's error."""
    try:
        array = tensor.as_numpy()
    except (ValueError, TypeError, OverflowError) as error:  # OverflowError: ints beyond int64
        raise InvalidInput(f"input {tensor.name!r} with shape {tensor.shape}: {error}") from error
    if list(array.shape) != [int(d) for d in tensor.shape]:
        raise InvalidInput(f"input {tensor.name!r} holds shape {list(array.shape)}, declared {tensor.shape}")
    return array


def v2_bytes_items(tensor: InferInput) -> list[bytes]:
    """A 1-D BYTES tensor as a list of raw bytes (JSON gives str, binary and gRPC give bytes)."""
    array = v2_array(tensor)
    if array.ndim != 1:
        raise InvalidInput(f"input {tensor.name!r} must have shape [N], got {list(array.shape)}")
    check_count(len(array), tensor.name)
    items = []
    for index, item in enumerate(array):
        # Only str/bytes: ``bytes(n)`` of a JSON number would allocate n zero bytes.
        if not isinstance(item, str | bytes | bytearray):
            raise InvalidInput(f"{tensor.name}[{index}] must be a string, got {type(item).__name__}")
        items.append(item.encode("utf-8", errors="surrogatepass") if isinstance(item, str) else bytes(item))
    return items


def v2_response(
    tensors: list[tuple[str, np.ndarray, str]], model: str, version: int, request_id: str
) -> InferResponse:
    """An InferResponse of ``(name, array, V2 datatype)`` outputs, naming the version that answered.

    Outputs stay numpy arrays so kserve serialises each protocol its own way: JSON lists on REST,
    ``raw_output_contents`` on gRPC (the only form ``tritonclient.grpc`` reads numbers from).
    """
    outputs = [InferOutput(name, list(array.shape), dtype, data=array) for name, array, dtype in tensors]
    return InferResponse(request_id, model, outputs, model_version=str(version))
