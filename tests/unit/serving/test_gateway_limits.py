"""Bad input is a 4xx with a clear message, decided before the upstream sees anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.unit.serving.gateway_harness import GatewayFactory

pytestmark = pytest.mark.anyio
INFER = "/v2/models/visual-search/infer"
PREDICT = "/v1/models/visual-search:predict"
LIMIT = 1000


async def _chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


async def test_declared_oversize_body_is_413_without_reaching_upstream(
    gateway: GatewayFactory, echo: tuple[str, FastAPI]
) -> None:
    _, upstream = echo
    hits = upstream.state.hits
    async with gateway(max_body_bytes=LIMIT) as client:
        response = await client.post(PREDICT, content=b"[" + b"0," * LIMIT + b"0]")
    assert response.status_code == 413
    assert f"{LIMIT}-byte limit" in response.json()["error"]
    assert upstream.state.hits == hits


async def test_streamed_oversize_body_is_413_once_the_limit_is_crossed(gateway: GatewayFactory) -> None:
    pulled: list[int] = []

    async def counted_chunks() -> AsyncIterator[bytes]:
        async for chunk in _chunks(100 * LIMIT):
            pulled.append(len(chunk))
            yield chunk

    async with gateway(max_body_bytes=LIMIT) as client:
        response = await client.post(
            INFER, content=counted_chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert sum(pulled) < 100 * LIMIT  # refused mid-stream, not after reading everything


async def test_body_at_the_limit_is_accepted(gateway: GatewayFactory) -> None:
    body = json.dumps({"instances": ["x" * (LIMIT - 20)]}).encode()
    assert len(body) <= LIMIT
    async with gateway(max_body_bytes=LIMIT) as client:
        assert (await client.post(PREDICT, content=body)).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "image/png"])
async def test_non_json_content_type_is_415(gateway: GatewayFactory, content_type: str) -> None:
    async with gateway() as client:
        response = await client.post(
            PREDICT, content=b'{"instances": [1]}', headers={"content-type": content_type}
        )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


async def test_json_with_charset_and_no_content_type_are_accepted(gateway: GatewayFactory) -> None:
    body = b'{"instances": [1]}'
    async with gateway() as client:
        with_charset = await client.post(
            PREDICT, content=body, headers={"content-type": "application/json; charset=utf-8"}
        )
        without = await client.post(PREDICT, content=body)
    assert (with_charset.status_code, without.status_code) == (200, 200)
    assert without.json()["seen_headers"]["content-type"] == "application/json"


V2_BODY = b'{"inputs": [{"name": "id", "datatype": "INT64", "shape": [1], "data": [1]}]}'


@pytest.mark.parametrize(("path", "body"), [(PREDICT, b'{"instances": [1]}'), (INFER, V2_BODY)])
async def test_json_sent_as_a_form_is_accepted_and_forwarded_as_json(
    gateway: GatewayFactory, path: str, body: bytes
) -> None:
    """``curl -d '{...}'`` labels its body application/x-www-form-urlencoded."""
    async with gateway() as client:
        response = await client.post(
            path, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code == 200
    assert response.json()["seen_headers"]["content-type"] == "application/json"


async def test_form_fields_are_415_and_a_broken_json_form_is_400(gateway: GatewayFactory) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with gateway() as client:
        fields = await client.post(PREDICT, content=b"user_id=42&n=5", headers=form)
        broken = await client.post(PREDICT, content=b'{"user_id": 42,}', headers=form)
    assert fields.status_code == 415
    assert "send a JSON body" in fields.json()["error"]
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("malformed JSON body")


@pytest.mark.parametrize("body", [b"", b"{", b'{"instances": [1,]}', b"\xff\xfe"], ids=repr)
async def test_malformed_json_is_400(gateway: GatewayFactory, body: bytes) -> None:
    async with gateway() as client:
        response = await client.post(INFER, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON body")


async def test_binary_infer_passes_with_its_json_header(gateway: GatewayFactory) -> None:
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [4], "datatype": "UINT8", "parameters": {"binary_data_size": 4}}]}
    )
    body = header.encode() + b"\x00\x01\x02\xff"
    async with gateway() as client:
        response = await client.post(
            INFER,
            content=body,
            headers={
                "content-type": "application/octet-stream",
                "inference-header-content-length": str(len(header)),
            },
        )
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [len(body)]
    assert response.json()["seen_headers"]["inference-header-content-length"] == str(len(header))


@pytest.mark.parametrize("header_length", ["abc", "999", "3"])
async def test_binary_infer_with_a_bad_header_length_is_400(
    gateway: GatewayFactory, header_length: str
) -> None:
    async with gateway() as client:
        response = await client.post(
            INFER,
            content=b'{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2], '
            b'"parameters": {"binary_data_size": 2}}]}\x00\x01',
            headers={
                "content-type": "application/octet-stream",
                "inference-header-content-length": header_length,
            },
        )
    assert response.status_code == 400


async def test_binary_body_is_not_allowed_on_v1(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post(
            PREDICT,
            content=b'{"instances": []}\x00',
            headers={"content-type": "application/octet-stream", "inference-header-content-length": "17"},
        )
    assert response.status_code == 415


async def test_invalid_content_length_is_400(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post(PREDICT, content=b"{}", headers={"content-length": "-1"})
    assert response.status_code == 400


async def test_unserved_path_and_method_get_the_same_error_shape(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        missing = await client.get("/v3/anything")
        wrong_method = await client.get(PREDICT)
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert "error" in missing.json() and "error" in wrong_method.json()
