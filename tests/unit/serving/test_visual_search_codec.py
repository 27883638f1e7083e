"""visual-search request parsing, image decoding and V2 encoding (no servers)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from PIL import Image

from embeddings.records import SearchHit
from serving.transformer.codecs.visual_search import (
    MAX_IMAGE_PIXELS,
    MAX_K,
    decode_image,
    encode_v2,
    hit_json,
    parse_v1,
    parse_v2,
)


def _encoded(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_png_is_resized_to_28x28_in_unit_range() -> None:
    pixels = decode_image(_encoded(np.full((56, 40), 100)))
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert np.allclose(pixels, 100 / 255, atol=1e-6)


def test_dark_on_white_photos_are_inverted_to_fashion_mnist_polarity() -> None:
    photo = np.full((28, 28), 255)
    photo[8:20, 8:20] = 0  # a dark item on a white background
    pixels = decode_image(_encoded(photo, "JPEG"))
    assert pixels[0, 0] < 0.1 and pixels[14, 14] > 0.9


def test_v1_mixes_images_pixels_and_ids() -> None:
    grid = [[255] * 28 for _ in range(28)]
    request = parse_v1(
        {
            "instances": [{"image_b64": _b64(_encoded(np.zeros((28, 28))))}, {"pixels": grid}, {"id": 12}],
            "k": 5,
            "filter": {"label": [1, 2]},
        }
    )
    assert (request.k, request.filter, request.order) == (5, {"label": [1, 2]}, "class_first")
    assert request.queries[0].pixels.shape == (28, 28)
    assert request.queries[1].pixels.max() == pytest.approx(1.0)  # 0-255 scaled
    assert request.queries[2].point_id == 12 and request.queries[2].pixels is None


def test_pixels_already_in_unit_range_are_kept() -> None:
    grid = np.full((28, 28), 0.5).tolist()
    assert parse_v1({"instances": [{"pixels": grid}]}).queries[0].pixels.max() == pytest.approx(0.5)


def test_data_urls_are_accepted() -> None:
    data_url = "data:image/png;base64," + _b64(_encoded(np.zeros((28, 28))))
    assert parse_v1({"instances": [{"image_b64": data_url}]}).queries[0].pixels.shape == (28, 28)


def _huge_png() -> str:
    side = int(MAX_IMAGE_PIXELS**0.5) + 10
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    return _b64(buffer.getvalue())


def _gif() -> str:
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "GIF")
    return _b64(buffer.getvalue())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [{}]}, "exactly one of"),
        ({"instances": [{"id": 1, "pixels": []}]}, "exactly one of"),
        ({"instances": ["image"]}, "exactly one of"),
        ({"instances": [{"id": -1}]}, "from 0"),
        ({"instances": [{"id": True}]}, "integer"),
        ({"instances": [{"image_b64": "***"}]}, "base64"),
        ({"instances": [{"image_b64": _b64(b"")}]}, "empty"),
        ({"instances": [{"image_b64": _b64(b"\x89PNG\r\n not really")}]}, "not a PNG or JPEG image$"),
        ({"instances": [{"image_b64": _gif()}]}, "PNG or JPEG"),
        ({"instances": [{"image_b64": _huge_png()}]}, "pixels"),
        ({"instances": [{"image_b64": "A" * (6 * 1024 * 1024)}]}, "bytes"),
        ({"instances": [{"pixels": [[1, 2]]}]}, "28 rows"),
        ({"instances": [{"pixels": [[0] * 28] * 27 + [[0] * 27]}]}, "28"),
        ({"instances": [{"pixels": [[float("nan")] * 28] * 28}]}, "finite"),
        ({"instances": [{"pixels": [[300] * 28] * 28}]}, "0 to 255"),
        ({"instances": [{"id": 1}], "k": 0}, '"k"'),
        ({"instances": [{"id": 1}], "k": MAX_K + 1}, '"k"'),
        ({"instances": [{"id": 1}], "k": 2.5}, '"k"'),
        ({"instances": [{"id": 1}], "filter": "label=3"}, "filter"),
        ({"instances": [{"id": 1}], "filter": {"label": {"near": 2}}}, "filter"),
        ({"instances": [{"id": 1}], "sort": "asc"}, "unknown fields"),
        ({"instances": [{"id": 1}], "order": "random"}, r'"order" must be one of \['),
        ({"instances": [{"id": 1}], "order": ["similarity"]}, '"order"'),
    ],
)
def test_v1_rejects_with_a_message(body: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v1(body)


def test_an_unreadable_image_is_named_without_a_python_repr() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_v1({"instances": [{"image_b64": _b64(b"not an image at all")}]})
    assert " object at 0x" not in str(caught.value)


def _v2(inputs: list[dict], parameters: dict | None = None) -> InferRequest:
    payload = {"inputs": inputs, "parameters": parameters} if parameters else {"inputs": inputs}
    return InferRequest.from_inference_request(InferenceRequest.model_validate(payload), "visual-search")


def test_v2_float_and_uint8_tensors_with_parameters() -> None:
    floats = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    request = parse_v2(
        _v2(
            [{"name": "image", "datatype": "FP32", "shape": [2, 1, 28, 28], "data": floats.ravel().tolist()}],
            {"k": 7, "filter": '{"label": 3}', "order": "similarity"},
        )
    )
    assert len(request.queries) == 2 and request.k == 7 and request.filter == {"label": 3}
    assert request.order == "similarity"
    assert np.allclose(request.queries[1].pixels, floats[1, 0])
    uint8 = _v2([{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28], "data": [255] * 784}])
    assert parse_v2(uint8).queries[0].pixels.max() == pytest.approx(1.0)


def test_v2_encoded_images_and_ids() -> None:
    image = InferInput("image", [1], "BYTES")
    image.set_data_from_numpy(np.array([_encoded(np.zeros((30, 30)))], dtype=np.object_), binary_data=True)
    assert parse_v2(InferRequest("visual-search", [image])).queries[0].pixels.shape == (28, 28)
    ids = parse_v2(_v2([{"name": "id", "datatype": "INT64", "shape": [2], "data": [4, 5]}]))
    assert [query.point_id for query in ids.queries] == [4, 5]


@pytest.mark.parametrize(
    ("inputs", "parameters", "message"),
    [
        ([{"name": "img", "datatype": "FP32", "shape": [1], "data": [0.0]}], None, "unknown inputs"),
        (
            [{"name": "image", "datatype": "FP64", "shape": [1, 28, 28], "data": [0.0] * 784}],
            None,
            "datatype",
        ),
        ([{"name": "image", "datatype": "FP32", "shape": [1, 27, 28], "data": [0.0] * 756}], None, "shape"),
        ([{"name": "image", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 10}], None, "shape"),
        ([{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["not an image"]}], None, "not a PNG"),
        ([{"name": "id", "datatype": "FP32", "shape": [1], "data": [1.0]}], None, "INT64"),
        ([{"name": "id", "datatype": "INT64", "shape": [1], "data": [1]}], {"k": 0}, "k"),
        ([{"name": "id", "datatype": "INT64", "shape": [1], "data": [1]}], {"filter": "{oops"}, "filter"),
        (
            [{"name": "id", "datatype": "INT64", "shape": [1], "data": [1]}],
            {"order": "asc"},
            "parameters.order",
        ),
    ],
)
def test_v2_rejects_bad_tensors(inputs: list[dict], parameters: dict | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_v2(_v2(inputs, parameters))


def test_v2_needs_exactly_one_input() -> None:
    both = [
        {"name": "id", "datatype": "INT64", "shape": [1], "data": [1]},
        {"name": "image", "datatype": "UINT8", "shape": [1, 28, 28], "data": [0] * 784},
    ]
    with pytest.raises(InvalidInput, match="exactly one input"):
        parse_v2(_v2(both))


def test_hits_encode_as_json_and_padded_v2_tensors() -> None:
    hits = [SearchHit(3, 0.91, {"label": 2, "class_name": "Pullover", "split": "train"})]
    assert hit_json(hits[0]) == {
        "id": 3,
        "score": 0.91,
        "label": 2,
        "class_name": "Pullover",
        "split": "train",
    }
    body, _ = encode_v2([hits], 3, "visual-search", 2, "r").to_rest()
    outputs = {output["name"]: output["data"] for output in body["outputs"]}
    assert outputs["ids"] == [3, -1, -1] and outputs["labels"] == [2, -1, -1]
    assert body["model_version"] == "2"
