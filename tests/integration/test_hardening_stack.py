"""Issue 15's attacks on the real stack (``yard serve``: Triton, the three KServe transformers,
the gateway), each refused with a 4xx and a clear message, or its route gone, and the real model
answering 200 afterwards. One shared stack (``served_stack``); nothing here changes it.

The attacks, as reproduced before the fix: malformed V2 tensors (500/503 with Python exception
text), a 25-byte truncated PNG (500), 64 pixel-heavy images (3.6 s of CPU, then 200), unloading a
transformer's model through kserve's repository API (200, then 404 until a restart), Triton's
repository API open to anyone local, an admin API taking the client key, any URL as a route and
keyless bodies of any size (a 200 MiB one took the gateway from 66 to 503 MiB), /docs,
/openapi.json and /metrics without a key.
"""

from __future__ import annotations

import base64
import io
import json
import select
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import grpc
import httpx
import numpy as np
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from PIL import Image

from serving.stack.client import read_admin_key, read_api_key
from serving.stack.state import read_state, triton_key_path
from serving.triton.server import KEY_HEADER
from tests import mutations
from tests.integration.faults import require_served

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIB = 1024 * 1024
ADMIN_BODY_MIB = 200
RSS_GROWTH_LIMIT_MIB = 10


@pytest.fixture(scope="module")
def stack(served_stack) -> Iterator[dict]:
    settings, state, _ = served_stack
    keys = {"client": read_api_key(settings), "admin": read_admin_key(settings)}
    with httpx.Client(
        base_url=state.gateway_url, headers={"x-api-key": keys["client"]}, timeout=60
    ) as client:
        yield {"settings": settings, "state": read_state(settings), "keys": keys, "client": client}


def answers(client: httpx.Client, model: str) -> None:
    """The real model still answers 200 (a V1 request it always serves)."""
    body = {
        "moderation": {"instances": ["Win a free cruise now!"]},
        "ranking": {"user_id": 42, "n": 3},
        "visual-search": {"instances": [{"id": 1}], "k": 3},
    }[model]
    response = client.post(f"/v1/models/{model}:predict", json=body)
    assert response.status_code == 200, response.text


def binary_infer(
    client: httpx.Client, model: str, inputs: list[dict], raw: bytes, base_url: str = ""
) -> httpx.Response:
    header = json.dumps({"inputs": inputs}).encode()
    headers = {
        "inference-header-content-length": str(len(header)),
        "content-type": "application/octet-stream",
    }
    return client.post(f"{base_url}/v2/models/{model}/infer", content=header + raw, headers=headers)


def text_tensor(size: int | str) -> dict:
    return {"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": size}}


HELLO = struct.pack("<I", 5) + b"hello"  # one BYTES element, 9 bytes
NAMELESS = {"datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 9}}


def user_ids(shape: list[int], size: int) -> list[dict]:
    return [
        {"name": "user_id", "datatype": "INT64", "shape": shape, "parameters": {"binary_data_size": size}}
    ]


# name: (model, inputs, binary part, words the 400 must contain)
MALFORMED_BINARY = {
    "missing-name": ("moderation", [NAMELESS], HELLO, "inputs[0].name"),
    "size-as-string": ("moderation", [text_tensor("9")], HELLO, "binary_data_size"),
    "size-not-a-multiple": ("ranking", user_ids([1], 7), b"\x01" * 7, "binary_data_size is 7"),
    "shape-size-mismatch": ("ranking", user_ids([3], 8), struct.pack("<q", 42), "shape [3]"),
    "truncated-bytes": ("moderation", [text_tensor(9)], struct.pack("<I", 50) + b"hello", "truncated"),
    "trailing-bytes": ("moderation", [text_tensor(9)], HELLO + b"extra", "add up to 9"),
}
MALFORMED_JSON = {
    "inputs-not-a-list": ("moderation", {"inputs": 5}, '"inputs" must be a list'),
    "no-inputs": ("ranking", {"outputs": []}, 'no "inputs"'),
    "json-missing-name": (
        "moderation",
        {"inputs": [{"datatype": "BYTES", "shape": [1], "data": ["x"]}]},
        "name",
    ),
    "json-shape-mismatch": (
        "ranking",
        {"inputs": [{"name": "user_id", "datatype": "INT64", "shape": [3], "data": [1]}]},
        "shape [3]",
    ),
    "unknown-datatype": (
        "ranking",
        {"inputs": [{"name": "user_id", "datatype": "INT65", "shape": [1], "data": [1]}]},
        "datatype",
    ),
}


@pytest.mark.parametrize("where", ["gateway", "transformer"])
@pytest.mark.parametrize("name", MALFORMED_BINARY)
def test_malformed_binary_tensors_are_400_naming_the_field(stack, name: str, where: str) -> None:
    """At the gateway (checked before forwarding) and straight at the transformer (checked before
    kserve decodes): the same 400, never a traceback."""
    model, inputs, raw, words = MALFORMED_BINARY[name]
    require_served(stack_tuple(stack), model)
    base_url = "" if where == "gateway" else transformer_url(stack, model)
    response = binary_infer(stack["client"], model, inputs, raw, base_url)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"] and "Traceback" not in response.text
    answers(stack["client"], model)


@pytest.mark.parametrize("where", ["gateway", "transformer"])
@pytest.mark.parametrize("name", MALFORMED_JSON)
def test_malformed_json_tensors_are_4xx_naming_the_field(stack, name: str, where: str) -> None:
    model, body, words = MALFORMED_JSON[name]
    require_served(stack_tuple(stack), model)
    base_url = "" if where == "gateway" else transformer_url(stack, model)
    response = stack["client"].post(f"{base_url}/v2/models/{model}/infer", json=body)
    if where == "transformer" and response.status_code == 422:  # kserve's own request model, FastAPI's 422
        assert "inputs" in response.text
    else:
        assert response.status_code == 400, response.text
        assert words in response.json()["error"]
    answers(stack["client"], model)


def png(side: int, value: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side), value, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


TRUNCATED_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x01IHDR\x00" + b"\x00" * 8


def test_a_truncated_png_is_400_on_v1_and_v2(stack) -> None:
    require_served(stack_tuple(stack), "visual-search")
    assert len(TRUNCATED_PNG) == 25
    v1 = stack["client"].post(
        "/v1/models/visual-search:predict",
        json={"instances": [{"image_b64": base64.b64encode(TRUNCATED_PNG).decode()}]},
    )
    tensor = [{"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 29}}]
    v2 = binary_infer(stack["client"], "visual-search", tensor, mutations.bytes_tensor([TRUNCATED_PNG]))
    for response, field in ((v1, "instances[0].image_b64"), (v2, "image[0]")):
        assert response.status_code == 400, response.text
        assert field in response.json()["error"] and "could not be decoded" in response.json()["error"]
    answers(stack["client"], "visual-search")


def test_an_encoded_image_over_binary_v2_is_served(stack) -> None:
    """kserve's own decoder answered 500 to any binary BYTES element that is not UTF-8 text."""
    require_served(stack_tuple(stack), "visual-search")
    images = [mutations.PNG, mutations.JPEG]
    tensor = [{"name": "image", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 0}}]
    raw = mutations.bytes_tensor(images)
    tensor[0]["parameters"]["binary_data_size"] = len(raw)
    response = binary_infer(stack["client"], "visual-search", tensor, raw)
    assert response.status_code == 200, response.text
    assert [output["shape"][0] for output in response.json()["outputs"]] == [2, 2, 2]


def test_pixel_heavy_requests_are_refused_before_decoding(stack) -> None:
    require_served(stack_tuple(stack), "visual-search")
    huge = base64.b64encode(png(2048)).decode()
    started = time.perf_counter()
    per_image = stack["client"].post(
        "/v1/models/visual-search:predict", json={"instances": [{"image_b64": huge}] * 64}
    )
    seconds = time.perf_counter() - started
    big = base64.b64encode(png(1024)).decode()
    per_request = stack["client"].post(
        "/v1/models/visual-search:predict", json={"instances": [{"image_b64": big}] * 5}
    )
    assert per_image.status_code == 400 and "2048x2048" in per_image.json()["error"]
    assert seconds < 2.0, (
        f"refusing took {seconds:.2f} s"
    )  # the fix read headers only (was 3.6 s of decoding)
    assert per_request.status_code == 400 and "instances[4]" in per_request.json()["error"]
    assert "per request" in per_request.json()["error"]
    answers(stack["client"], "visual-search")


def test_transformers_have_no_model_repository_api(stack) -> None:
    """kserve's repository extension let anyone unload a transformer's model (then 404 until a
    restart, while its health stayed 200). REST: 404; gRPC: UNIMPLEMENTED."""
    require_served(stack_tuple(stack), "moderation")
    url = transformer_url(stack, "moderation")
    for action in ("unload", "load"):
        response = httpx.post(f"{url}/v2/repository/models/moderation/{action}", timeout=10)
        assert response.status_code == 404 and "repository" in response.json()["error"]
    grpc_port = stack["state"].children[stack["state"].models["moderation"].transformer].ports["grpc"]
    with grpc.insecure_channel(f"{urlsplit(url).hostname}:{grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="moderation"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert stub.ModelReady(pb.ModelReadyRequest(name="moderation"), timeout=10).ready
    assert httpx.get(f"{url}/v2/models/moderation/ready", timeout=10).status_code == 200
    answers(stack["client"], "moderation")


def test_tritons_repository_api_needs_the_stacks_key(stack) -> None:
    settings, state = stack["settings"], stack["state"]
    triton = state.children["triton"].url
    key = triton_key_path(settings).read_text().strip()
    keyless = httpx.post(f"{triton}/v2/repository/index", timeout=10)
    wrong = httpx.post(f"{triton}/v2/repository/index", headers={KEY_HEADER: "guess"}, timeout=10)
    unload = httpx.post(f"{triton}/v2/repository/models/moderation/unload", timeout=10)
    keyed = httpx.post(f"{triton}/v2/repository/index", headers={KEY_HEADER: key}, timeout=10)
    assert (keyless.status_code, wrong.status_code, unload.status_code, keyed.status_code) == (
        403,
        403,
        403,
        200,
    )
    assert "restricted" in keyless.json()["error"]
    assert httpx.get(f"{triton}/v2/health/ready", timeout=10).status_code == 200
    answers(stack["client"], "moderation")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_off(stack, path: str) -> None:
    assert httpx.get(stack["state"].gateway_url + path, timeout=10).status_code == 404


def test_metrics_need_the_admin_key(stack) -> None:
    url = stack["state"].gateway_url + "/metrics"
    keyless = httpx.get(url, timeout=10)
    client_key = httpx.get(url, headers={"x-api-key": stack["keys"]["client"]}, timeout=10)
    admin = httpx.get(url, headers={"x-api-key": stack["keys"]["admin"]}, timeout=10)
    assert (keyless.status_code, client_key.status_code, admin.status_code) == (401, 403, 200)
    assert "modelyard_gateway_requests_total" in admin.text


def variant(role: str, url: str, version: str = "9", **more: object) -> dict:
    return {role: {"url": url, "version": version}, **more}


ON_LIST = "http://127.0.0.1:9"  # the stack allows its own host: candidates start there
# name: (spec, status, words the refusal must contain)
ADMIN_ATTACKS = {
    "ssrf-query-fragment": (variant("stable", "http://example.invalid/x?y=1#"), 400, "query"),
    "off-the-allow-list": (variant("canary", "http://10.1.2.3:9", percent=100), 400, "allow-list"),
    "not-a-url": (variant("stable", "not a url"), 400, "stable.url"),
    "euro-version": (variant("canary", ON_LIST, "9\u20ac", percent=1), 400, "canary.version"),
    "crlf-version": (variant("canary", ON_LIST, "9\r\nx: y", percent=1), 400, "canary.version"),
    "long-reason": ({"reason": "x" * 1000}, 400, "reason"),
    "on-list-not-ready": (variant("canary", ON_LIST, percent=10), 409, "not ready"),
}


def test_the_admin_api_takes_only_the_admin_key_checked_before_the_body(stack) -> None:
    gateway = stack["state"].gateway_url
    put = f"{gateway}/admin/rollouts/moderation"
    malformed = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    keyless = httpx.put(put, **malformed, timeout=10)
    with_client_key = httpx.put(
        put,
        content=b"{not json",
        headers={**malformed["headers"], "x-api-key": stack["keys"]["client"]},
        timeout=10,
    )
    assert (keyless.status_code, with_client_key.status_code) == (401, 403)


@pytest.mark.parametrize("name", ADMIN_ATTACKS)
def test_bad_or_unknown_rollout_values_are_refused_and_change_nothing(stack, name: str) -> None:
    require_served(stack_tuple(stack), "moderation")
    spec, status, words = ADMIN_ATTACKS[name]
    admin = {"x-api-key": stack["keys"]["admin"]}
    url = f"{stack['state'].gateway_url}/admin/rollouts/moderation"
    refused = httpx.put(url, json=spec, headers=admin, timeout=30)
    assert refused.status_code == status, refused.text
    assert words in refused.json()["error"]
    assert httpx.get(url, headers=admin, timeout=10).json()["rollout"] is None
    answers(stack["client"], "moderation")


def test_an_8_mib_reason_is_refused_at_64_kib(stack) -> None:
    body = json.dumps({"reason": "x" * (8 * MIB)}).encode()
    headers = {"x-api-key": stack["keys"]["admin"], "content-type": "application/json"}
    refused = httpx.put(
        f"{stack['state'].gateway_url}/admin/rollouts/moderation", content=body, headers=headers
    )
    assert refused.status_code == 413


def gateway_memory_mib(pid: int) -> dict[str, float]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def send_chunked_admin_body(gateway_url: str, mib: int) -> tuple[bytes, int]:
    """A keyless chunked PUT of ``mib`` MiB, sent until the gateway answers (or closes); returns
    the status line and how many bytes went out."""
    address = urlsplit(gateway_url)
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent, answer = 0, b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(
            b"PUT /admin/rollouts/moderation HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < mib * MIB and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += len(chunk)
            answer = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            answer = answer or sock.recv(65536)
    return answer.split(b"\r\n", 1)[0], sent


def test_a_keyless_200_mib_admin_body_is_refused_without_the_gateway_growing(stack) -> None:
    """Before: read whole, then 422 (RSS 66 -> 503 MiB here). Now the key is checked first; the
    gateway's peak resident memory (VmHWM, so a grow-then-free counts too) stays put."""
    state = stack["state"]
    pid = state.children["gateway"].pid
    before = gateway_memory_mib(pid)
    status_line, sent = send_chunked_admin_body(state.gateway_url, ADMIN_BODY_MIB)
    after = gateway_memory_mib(pid)
    assert status_line.startswith(b"HTTP/1.1 401"), status_line
    assert after["VmHWM"] - before["VmHWM"] < RSS_GROWTH_LIMIT_MIB, (before, after, sent)
    assert sent < ADMIN_BODY_MIB * MIB  # refused while the body was still coming
    answers(stack["client"], "moderation")


@pytest.mark.parametrize("model", ["visual-search", "moderation", "ranking"])
def test_mutated_requests_to_the_real_models_never_get_a_5xx(stack, model: str) -> None:
    """Seeded mutations of real V1/V2 requests (tests/mutations.py) through the gateway to the
    real transformers and Triton: each answer is 200 or a 4xx with a message."""
    require_served(stack_tuple(stack), model)
    statuses: Counter[int] = Counter()
    for number, case in enumerate(mutations.cases(model, seed=15, count=120)):
        response = stack["client"].post(case.path, content=case.body, headers=case.headers)
        assert response.status_code < 500, (model, number, response.status_code, response.text[:300])
        if response.status_code >= 400 and response.status_code != 422:
            assert response.json()["error"], (model, number)
        statuses[response.status_code] += 1
    assert statuses[200] >= len(mutations.seeds(model)) and statuses[400], statuses
    answers(stack["client"], model)


def transformer_url(stack: dict, model: str) -> str:
    return stack["state"].models[model].upstream_url


def stack_tuple(stack: dict) -> tuple:
    """What ``require_served`` reads: the untrained models."""
    untrained = {
        m: "not served" for m in ("visual-search", "moderation", "ranking") if m not in stack["state"].models
    }
    return (stack["settings"], stack["state"], untrained)
