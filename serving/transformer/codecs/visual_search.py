"""visual-search requests and responses, and image decoding (bytes -> the encoder's pixels).

V1: ``{"instances": [{"image_b64": ...} | {"pixels": [[...28x28...]]} | {"id": 123}], "k": 10,
"filter": {"label": 3}, "order": "class_first"}``. V2: input ``image`` (BYTES [N] encoded
PNG/JPEG, or FP32/UINT8 [N, 28, 28] / [N, 1, 28, 28]) or ``id`` (INT64 [N]); parameters ``k``
(int), ``filter`` (a JSON string) and ``order`` (a string). Decoding follows the version's
preprocessing.json: grayscale, bilinear resize to 28x28, a bright item on a dark background,
pixels scaled to [0, 1].
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse
from PIL import Image, UnidentifiedImageError

from embeddings.errors import FilterError
from embeddings.filters import parse_filter
from embeddings.records import SearchHit
from serving.transformer.codecs.common import (
    as_json_object,
    bounded_int,
    check_count,
    instance_list,
    item_id,
    optional_parameter,
    plain_parameter,
    reject_unknown_inputs,
    reject_unknown_keys,
    v2_array,
    v2_bytes_items,
    v2_response,
)

MAX_K = 100
DEFAULT_K = 10
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 1024 * 1024
"""Per image. The encoder sees 28x28, so a bigger picture only costs decoding (about 15-20 ms of a
core per million pixels here): send at most 1024x1024. Checked from the header before any pixel
is decoded, so a decompression bomb costs nothing."""
MAX_REQUEST_PIXELS = 4 * 1024 * 1024
"""Per request, over all its images (64 at 256x256, or 4 at the per-image cap): decoding one
request stays under about 100 ms of CPU."""
IMAGE_FORMATS = ("PNG", "JPEG")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)
"""What Pillow raises on broken PNG/JPEG bytes (truncated chunks, bad headers, bad Huffman
tables); ``UnidentifiedImageError`` is an OSError. tests/unit/serving/test_codec_fuzz.py mutates
real images to keep this list honest."""
SIDE = 28
ORDERS = ("class_first", "similarity")
"""How hits are ordered: the voted class first (the default, as evaluated), or by score alone."""
V2_IMAGE_DTYPES = ("BYTES", "FP32", "UINT8")


@dataclass(frozen=True)
class Query:
    """One query: pixels float32 [28, 28] in [0, 1], or the id of an indexed image ("more like this")."""

    pixels: np.ndarray | None = None
    point_id: int | None = None


@dataclass(frozen=True)
class VisualSearchRequest:
    queries: list[Query]
    k: int
    filter: dict[str, Any] | None
    order: str = ORDERS[0]


@dataclass
class PixelBudget:
    """Pixels one request may still decode (``MAX_REQUEST_PIXELS``)."""

    left: int = MAX_REQUEST_PIXELS

    def take(self, pixels: int, where: str) -> None:
        if pixels > self.left:
            spent = MAX_REQUEST_PIXELS - self.left
            raise InvalidInput(
                f"{where} would bring this request to {spent + pixels} pixels; at most "
                f"{MAX_REQUEST_PIXELS} per request (the model sees {SIDE}x{SIDE}: send smaller images)"
            )
        self.left -= pixels


def parse_v1(body: Any) -> VisualSearchRequest:
    payload = as_json_object(body)
    reject_unknown_keys(payload, {"instances", "k", "filter", "order"})
    budget = PixelBudget()
    queries = [_query_of(item, index, budget) for index, item in enumerate(instance_list(payload))]
    k = bounded_int(payload.get("k", DEFAULT_K), "k", 1, MAX_K)
    order = _checked_order(payload.get("order", ORDERS[0]), '"order"')
    return VisualSearchRequest(queries, k, _checked_filter(payload.get("filter")), order)


def _query_of(item: Any, index: int, budget: PixelBudget) -> Query:
    where = f"instances[{index}]"
    kinds = {"image_b64", "pixels", "id"}
    if not isinstance(item, dict) or len(set(item) & kinds) != 1:
        raise InvalidInput(f'{where} must be an object with exactly one of "image_b64", "pixels" or "id"')
    reject_unknown_keys(item, kinds, where)
    if "id" in item:
        return Query(point_id=item_id(item["id"], f"{where}.id"))
    if "pixels" in item:
        return Query(pixels=scale_pixels(_pixel_grid(item["pixels"], f"{where}.pixels"), f"{where}.pixels"))
    where += ".image_b64"
    return Query(pixels=decode_image(_base64_bytes(item["image_b64"], where), where, budget))


def _pixel_grid(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != SIDE:
        raise InvalidInput(f"{where} must be {SIDE} rows of {SIDE} numbers")
    try:
        grid = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidInput(f"{where} must be {SIDE} rows of {SIDE} numbers: {error}") from error
    if grid.shape != (SIDE, SIDE):
        raise InvalidInput(f"{where} has shape {list(grid.shape)}; it must be [{SIDE}, {SIDE}]")
    return grid


def scale_pixels(grid: np.ndarray, where: str) -> np.ndarray:
    """0-255 or 0-1 values -> float32 in [0, 1]; a grid with any value above 1 counts as 0-255."""
    if not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 255:
        raise InvalidInput(f"{where} must hold finite values from 0 to 255 (or 0 to 1)")
    return (grid / 255.0 if grid.max() > 1.0 else grid).astype(np.float32)


def _base64_bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a base64 string")
    value = value.split(",", 1)[1] if value.startswith("data:") else value  # data URLs too
    if len(value) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise InvalidInput(f"{where} is over {MAX_IMAGE_BYTES} bytes; send a smaller image")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(f"{where} is not valid base64: {error}") from error


def decode_image(data: bytes, where: str = "image", budget: PixelBudget | None = None) -> np.ndarray:
    """Encoded PNG/JPEG -> float32 [28, 28] in [0, 1], bright item on a dark background.

    Every failure is ``InvalidInput`` naming ``where``: not an image, too many bytes or pixels
    (this image, or the request's ``budget``), truncated or corrupt data.
    """
    if not data:
        raise InvalidInput(f"{where} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"{where} is {len(data)} bytes; at most {MAX_IMAGE_BYTES}")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except UnidentifiedImageError as error:  # its message is only the repr of our buffer
        raise InvalidInput(f"{where} is not a PNG or JPEG image") from error
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as error:
        raise InvalidInput(f"{where} could not be decoded as PNG or JPEG: {error}") from error
    with image:
        if image.format not in IMAGE_FORMATS:
            raise InvalidInput(f"{where} is {image.format}; send PNG or JPEG")
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InvalidInput(
                f"{where} is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS} (e.g. 1024x1024): "
                f"the model sees {SIDE}x{SIDE}, so downscale first"
            )
        (budget or PixelBudget()).take(width * height, where)
        try:
            gray = image.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        except _DECODE_ERRORS as error:  # truncated or corrupt pixel data
            raise InvalidInput(f"{where} could not be decoded as PNG or JPEG: {error}") from error
    pixels = np.asarray(gray, dtype=np.float32)
    return _bright_on_dark(pixels) / 255.0


def _bright_on_dark(pixels: np.ndarray) -> np.ndarray:
    """Fashion-MNIST items are bright on black: invert photos whose border (background) is light."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return 255.0 - pixels if border.mean() > 127.5 else pixels


def _checked_order(value: Any, where: str) -> str:
    if value not in ORDERS:
        raise InvalidInput(f"{where} must be one of {list(ORDERS)}")
    return value


def _checked_filter(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parse_filter(value)
    except FilterError as error:
        raise InvalidInput(f'bad "filter": {error}') from error
    return value


def parse_v2(request: InferRequest) -> VisualSearchRequest:
    reject_unknown_inputs(request, {"image", "id"})
    names = [tensor.name for tensor in request.inputs]
    if len(names) != 1:
        raise InvalidInput(f'send exactly one input, "image" or "id" (got {names})')
    tensor = request.inputs[0]
    if tensor.name == "id":
        if tensor.datatype not in ("INT64", "INT32", "UINT64", "UINT32"):
            raise InvalidInput(f'input "id" has datatype {tensor.datatype}; use INT64')
        ids = v2_array(tensor).reshape(-1)
        check_count(len(ids), "id")
        queries = [Query(point_id=item_id(int(i), f"id[{n}]")) for n, i in enumerate(ids)]
    else:
        queries = [Query(pixels=pixels) for pixels in _v2_images(tensor)]
    parameters = request.parameters or {}
    k = optional_parameter(parameters, "k", DEFAULT_K, 1, MAX_K)
    order = plain_parameter(parameters["order"]) if "order" in parameters else ORDERS[0]
    order = _checked_order(order, "parameters.order")
    return VisualSearchRequest(queries, k, _checked_filter(_v2_filter(parameters)), order)


def _v2_images(tensor: Any) -> list[np.ndarray]:
    if tensor.datatype not in V2_IMAGE_DTYPES:
        raise InvalidInput(
            f'input "image" has datatype {tensor.datatype}; use one of {list(V2_IMAGE_DTYPES)}'
        )
    if tensor.datatype == "BYTES":
        budget = PixelBudget()
        return [decode_image(data, f"image[{n}]", budget) for n, data in enumerate(v2_bytes_items(tensor))]
    array = v2_array(tensor)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (SIDE, SIDE):
        raise InvalidInput(
            f'input "image" has shape {list(tensor.shape)}; use [N, {SIDE}, {SIDE}] or [N, 1, {SIDE}, {SIDE}]'
        )
    check_count(len(array), "image")
    return [scale_pixels(image.astype(np.float64), f"image[{n}]") for n, image in enumerate(array)]


def _v2_filter(parameters: Any) -> dict[str, Any] | None:
    if "filter" not in parameters:
        return None
    raw = plain_parameter(parameters["filter"])
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except (json.JSONDecodeError, RecursionError) as error:
        raise InvalidInput(f"parameters.filter is not a JSON object: {error}") from error
    return value


def hit_json(hit: SearchHit) -> dict[str, Any]:
    payload = hit.payload
    return {
        "id": hit.id,
        "score": round(float(hit.score), 6),
        "label": payload.get("label"),
        "class_name": payload.get("class_name"),
        "split": payload.get("split"),
    }


def encode_v2(
    results: list[list[SearchHit]], k: int, model: str, version: int, request_id: str
) -> InferResponse:
    """Outputs ``ids`` INT64 [N, k], ``scores`` FP32 [N, k], ``labels`` INT64 [N, k]; rows with
    fewer than k hits (a narrow filter) are padded with id -1, score 0 and label -1."""
    ids = np.full((len(results), k), -1, dtype=np.int64)
    scores = np.zeros((len(results), k), dtype=np.float32)
    labels = np.full((len(results), k), -1, dtype=np.int64)
    for row, hits in enumerate(results):
        for column, hit in enumerate(hits[:k]):
            ids[row, column], scores[row, column] = hit.id, hit.score
            labels[row, column] = int(hit.payload.get("label", -1))
    tensors = [("ids", ids, "INT64"), ("scores", scores, "FP32"), ("labels", labels, "INT64")]
    return v2_response(tensors, model, version, request_id)
