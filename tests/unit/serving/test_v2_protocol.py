"""The V2 request checks shared by the gateway and the transformers."""

from __future__ import annotations

import json
import struct

import pytest

from serving.protocol.v2 import V2RequestError, check_infer_request, parse_binary_request


def tensor(**fields: object) -> dict:
    return {"name": "x", "datatype": "FP32", "shape": [2], **fields}


def binary_of(*sizes: int) -> list[dict]:
    return [tensor(parameters={"binary_data_size": size}) for size in sizes]


@pytest.mark.parametrize(
    ("header", "binary"),
    [
        ({"inputs": [tensor(data=[1.0, 2.0])]}, None),
        ({"inputs": [tensor(shape=[1, 2], data=[[1.0, 2.0]])]}, None),
        ({"inputs": [tensor(shape=[2, 2], data=[1, 2, 3, 4])]}, None),
        ({"inputs": [tensor(shape=[0], data=[])]}, None),
        ({"inputs": binary_of(8)}, b"\x00" * 8),
        ({"inputs": binary_of(8, 8)}, b"\x00" * 16),
        (
            {
                "inputs": [
                    {"name": "t", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 11}}
                ]
            },
            struct.pack("<I", 3) + b"abc" + struct.pack("<I", 0),
        ),
        (
            {"inputs": [tensor(data=[1, 2])], "id": "r1", "parameters": {"k": 3}, "outputs": [{"name": "y"}]},
            None,
        ),
    ],
)
def test_well_formed_requests_pass(header: dict, binary: bytes | None) -> None:
    check_infer_request(header, binary)


@pytest.mark.parametrize(
    ("header", "binary", "words"),
    [
        ([], None, "JSON object"),
        ({}, None, 'no "inputs"'),
        ({"inputs": {}}, None, '"inputs" must be a list'),
        ({"inputs": []}, None, '"inputs" must be a list'),
        ({"inputs": [tensor(data=[1, 2])] * 17}, None, '"inputs" must be a list'),
        ({"inputs": [5]}, None, "inputs[0] must be an object"),
        ({"inputs": [tensor(name=None, data=[1, 2])]}, None, "inputs[0].name"),
        ({"inputs": [tensor(name="", data=[1, 2])]}, None, "inputs[0].name"),
        ({"inputs": [tensor(datatype="FP31", data=[1, 2])]}, None, "datatype 'FP31'"),
        ({"inputs": [tensor(shape="2", data=[1, 2])]}, None, "shape"),
        ({"inputs": [tensor(shape=[-1], data=[1])]}, None, "shape"),
        ({"inputs": [tensor(shape=[True], data=[1])]}, None, "shape"),
        ({"inputs": [tensor(shape=[1] * 9, data=[1])]}, None, "shape"),
        ({"inputs": [tensor()]}, None, 'either "data" or parameters.binary_data_size'),
        ({"inputs": [tensor(data=[1, 2], parameters={"binary_data_size": 8})]}, b"\x00" * 8, "exactly one"),
        ({"inputs": [tensor(data="12")]}, None, "must be a list"),
        ({"inputs": [tensor(data=[1])]}, None, "does not match shape [2]"),
        ({"inputs": [tensor(shape=[2, 2], data=[[1, 2], [3]])]}, None, "dimension 1 should hold 2"),
        ({"inputs": [tensor(data=[[1], [2]])]}, None, "nested deeper"),
        ({"inputs": [tensor(parameters=[1])]}, None, "parameters must be an object"),
        ({"inputs": binary_of("8")}, b"\x00" * 8, "binary_data_size must be a byte count"),
        ({"inputs": binary_of(-8)}, b"\x00" * 8, "binary_data_size must be a byte count"),
        ({"inputs": binary_of(8)}, None, "no binary part"),
        ({"inputs": binary_of(8)}, b"\x00" * 4, "only 4 bytes are left"),
        ({"inputs": binary_of(7)}, b"\x00" * 7, "takes 8 bytes, but binary_data_size is 7"),
        ({"inputs": binary_of(8)}, b"\x00" * 9, "holds 9 bytes"),
        (
            {
                "inputs": [
                    {"name": "t", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}
                ]
            },
            struct.pack("<I", 5) + b"ab",
            "element 0 declares 5 bytes, 2 are left",
        ),
        (
            {
                "inputs": [
                    {"name": "t", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 2}}
                ]
            },
            b"ab",
            "no complete length prefix",
        ),
        (
            {
                "inputs": [
                    {"name": "t", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 5}}
                ]
            },
            struct.pack("<I", 1) + b"a",
            "holds 1 BYTES elements; its shape needs 2",
        ),
        ({"inputs": [tensor(data=[1, 2])], "outputs": [{"nom": "y"}]}, None, '"outputs"'),
        ({"inputs": [tensor(data=[1, 2])], "id": 5}, None, '"id" must be a string'),
        ({"inputs": [tensor(data=[1, 2])], "parameters": "k=3"}, None, "parameters must be an object"),
    ],
)
def test_malformed_requests_are_refused_naming_the_field(
    header: object, binary: bytes | None, words: str
) -> None:
    with pytest.raises(V2RequestError) as refused:
        check_infer_request(header, binary)
    assert words in str(refused.value)


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "", "²", "999"])
def test_a_header_length_that_does_not_fit_is_refused(length: str) -> None:
    with pytest.raises(V2RequestError, match="Inference-Header-Content-Length"):
        parse_binary_request(b'{"inputs": []}\x00', length)


def test_a_binary_request_splits_into_header_and_tensor_bytes() -> None:
    header = json.dumps({"inputs": binary_of(8)}).encode()
    parsed, binary = parse_binary_request(header + b"\x01" * 8, str(len(header)))
    assert parsed["inputs"][0]["name"] == "x" and bytes(binary) == b"\x01" * 8
    with pytest.raises(V2RequestError, match="malformed JSON header"):
        parse_binary_request(b"{bad" + b"\x00" * 8, "4")
