"""Open Inference Protocol V2 inference requests: the structure every model needs, checked once.

A request is a JSON header (``inputs``: name, datatype, shape, and ``data`` or
``parameters.binary_data_size``), optionally followed by raw tensor bytes. kserve decodes it
trusting every field, so a wrong type or a size that does not add up became a 500 with a Python
traceback. ``check_infer_request`` finds those mistakes first and says which field is wrong; the
gateway runs it before forwarding, the transformers before kserve decodes (a request that reaches
a transformer directly gets the same answer). What a tensor must hold for one model (names,
datatypes, value ranges) stays with that model's codec.

Cheap on purpose (the gateway runs it on every V2 request): it walks the header and the BYTES
length prefixes, and the nesting of JSON ``data`` level by level, never the numbers themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

ITEM_BYTES = {
    "BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2,
    "INT32": 4, "INT64": 8, "FP16": 2, "FP32": 4, "FP64": 8,
}  # fmt: skip
DATATYPES = (*ITEM_BYTES, "BYTES")
MAX_TENSORS = 16
MAX_DIMS = 8
MAX_NAME_CHARS = 128
BYTES_PREFIX = 4
"""A binary BYTES element is a little-endian uint32 length, then that many bytes."""


class V2RequestError(ValueError):
    """A V2 request that does not add up; the message names the field (a 400)."""


def parse_binary_request(body: bytes, header_length: str) -> tuple[Any, memoryview]:
    """The parsed JSON header and the binary part of a binary V2 request (``header_length``: the
    ``Inference-Header-Content-Length`` header as sent)."""
    if not is_ascii_decimal(header_length) or int(header_length) > len(body):
        raise V2RequestError(
            f"Inference-Header-Content-Length {header_length!r} does not fit a {len(body)}-byte body"
        )
    view = memoryview(body)
    try:
        header = orjson.loads(view[: int(header_length)])
    except orjson.JSONDecodeError as exc:
        raise V2RequestError(f"malformed JSON header: {exc}") from None
    return header, view[int(header_length) :]


def is_ascii_decimal(value: str) -> bool:
    """A non-negative decimal integer; ASCII only: ``str.isdigit()`` accepts "²" (latin-1 header
    byte 0xB2), which ``int()`` refuses."""
    return value.isascii() and value.isdigit()


def check_infer_request(header: Any, binary: bytes | memoryview | None) -> None:
    """Raise ``V2RequestError`` unless ``header`` (the parsed JSON) and ``binary`` (the bytes after
    it; None: a JSON-only request) form a well-formed V2 inference request."""
    if not isinstance(header, dict):
        raise V2RequestError(f'a V2 request is a JSON object with "inputs", got {_kind(header)}')
    if "inputs" not in header:
        raise V2RequestError('the request has no "inputs": send a list of input tensors')
    inputs = header["inputs"]
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_TENSORS:
        raise V2RequestError(f'"inputs" must be a list of 1 to {MAX_TENSORS} tensors, got {_kind(inputs)}')
    _check_optional_object(header, "parameters", "parameters")
    _check_outputs(header.get("outputs"))
    if "id" in header and not isinstance(header["id"], str):
        raise V2RequestError(f'"id" must be a string, got {_kind(header["id"])}')
    offset = 0
    for index, tensor in enumerate(inputs):
        offset = _check_tensor(tensor, f"inputs[{index}]", binary, offset)
    if binary is not None and offset != len(binary):
        raise V2RequestError(
            f"the binary part holds {len(binary)} bytes but the inputs' binary_data_size add up to {offset}"
        )


def _check_tensor(tensor: Any, where: str, binary: bytes | memoryview | None, offset: int) -> int:
    """Check one input; returns the binary offset after it."""
    if not isinstance(tensor, dict):
        raise V2RequestError(f"{where} must be an object with name, datatype and shape, got {_kind(tensor)}")
    name = tensor.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
        raise V2RequestError(f"{where}.name must be a string of 1 to {MAX_NAME_CHARS} characters")
    where = f"{where} ({name!r})"
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise V2RequestError(
            f"{where}.datatype {datatype!r} is not a V2 datatype; use one of {list(DATATYPES)}"
        )
    shape = _shape(tensor.get("shape"), where)
    parameters = _check_optional_object(tensor, "parameters", f"{where}.parameters") or {}
    has_data, has_binary = "data" in tensor, "binary_data_size" in parameters
    if has_data == has_binary:
        raise V2RequestError(f'{where} needs either "data" or parameters.binary_data_size (exactly one)')
    if has_data:
        _check_json_data(tensor["data"], shape, f"{where}.data")
        return offset
    size = parameters["binary_data_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise V2RequestError(f"{where}.parameters.binary_data_size must be a byte count, got {size!r}")
    if binary is None:
        raise V2RequestError(
            f"{where} declares binary_data_size but the request has no binary part "
            "(send Inference-Header-Content-Length: <length of the JSON header>)"
        )
    if offset + size > len(binary):
        raise V2RequestError(
            f"{where}.parameters.binary_data_size is {size} but only {len(binary) - offset} bytes are left"
        )
    segment = binary[offset : offset + size]
    if datatype == "BYTES":
        _check_bytes_elements(segment, math.prod(shape), where)
    elif size != math.prod(shape) * ITEM_BYTES[datatype]:
        raise V2RequestError(
            f"{where} of shape {shape} and datatype {datatype} takes "
            f"{math.prod(shape) * ITEM_BYTES[datatype]} bytes, but binary_data_size is {size}"
        )
    return offset + size


def _shape(shape: Any, where: str) -> list[int]:
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape)
    ):
        raise V2RequestError(f"{where}.shape must be a list of at most {MAX_DIMS} sizes >= 0, got {shape!r}")
    return shape


def _check_bytes_elements(segment: bytes | memoryview, count: int, where: str) -> None:
    """The length-prefixed elements fill ``segment`` exactly, ``count`` of them."""
    position, seen = 0, 0
    while position < len(segment):
        if position + BYTES_PREFIX > len(segment):
            raise V2RequestError(
                f"{where} BYTES data is truncated: element {seen} has no complete length prefix"
            )
        length = int.from_bytes(segment[position : position + BYTES_PREFIX], "little")
        position += BYTES_PREFIX + length
        if position > len(segment):
            raise V2RequestError(
                f"{where} BYTES data is truncated: element {seen} declares {length} bytes, "
                f"{len(segment) - (position - length)} are left"
            )
        seen += 1
    if seen != count:
        raise V2RequestError(f"{where} holds {seen} BYTES elements; its shape needs {count}")


def _check_json_data(data: Any, shape: list[int], where: str) -> None:
    """``data`` is flat (``prod(shape)`` values) or nested to ``shape``, level by level."""
    if not isinstance(data, list):
        raise V2RequestError(f"{where} must be a list of values, got {_kind(data)}")
    count = math.prod(shape)
    if len(data) == count and not (data and isinstance(data[0], list)):
        return
    level = [data]
    for depth, size in enumerate(shape):
        for node in level:
            if not isinstance(node, list) or len(node) != size:
                raise V2RequestError(
                    f"{where} does not match shape {shape}: send {count} values, flat or nested "
                    f"(dimension {depth} should hold {size})"
                )
        if depth < len(shape) - 1:
            level = [child for node in level for child in node]
    if any(node and isinstance(node[0], list) for node in level):
        raise V2RequestError(f"{where} is nested deeper than shape {shape}")


def _check_outputs(outputs: Any) -> None:
    if outputs is None:
        return
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise V2RequestError('"outputs" must be a list of objects with a "name"')


def _check_optional_object(container: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = container.get(key)
    if value is not None and not isinstance(value, dict):
        raise V2RequestError(f"{where} must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
