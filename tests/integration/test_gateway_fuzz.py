"""Schemathesis against the gateway's own OpenAPI document, plus hand-written hostile bodies.

The gateway runs under uvicorn on loopback (in a thread) in front of the real echo stand-in
upstream, so requests go through real HTTP parsing. The contract: whatever a client sends,
the gateway answers with no 5xx of its own, and every refusal it makes is ``{"error": ...}``.
The console is on, so its data routes (``/ui/api/...``) are in the document and fuzzed too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from serving.gateway.app import create_app
from serving.gateway.config import Upstream
from tests import mutations
from tests.loopback import serving_in_thread
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import API_KEY, MODELS, config_for

pytestmark = pytest.mark.integration
MAX_BODY_BYTES = 64 * 1024
AUTH = {"x-api-key": API_KEY}


@dataclass(frozen=True)
class Stack:
    gateway_url: str
    echo_url: str


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_echo_upstream() as (echo_url, _):
        config = config_for(
            gateway_routes(echo_url), max_body_bytes=MAX_BODY_BYTES, upstream_timeout_s=5.0, console=True
        )
        with serving_in_thread(create_app(config), lifespan="on") as url:
            yield Stack(url, echo_url)


def gateway_routes(url: str) -> dict[str, list[Upstream]]:
    return {model: [Upstream(url=url, version="1")] for model in MODELS}


# The document does not depend on where upstreams are, so it is read from an app built here
# (schemathesis' lazy from_fixture breaks on pytest 9: it reads the private Function._nodeid).
schema = schemathesis.openapi.from_dict(
    create_app(config_for(gateway_routes("http://127.0.0.1:9"), console=True)).openapi()
)


UVICORN_PARSER_REFUSAL = b"Invalid HTTP request received."


def check_error_body(response: httpx.Response | schemathesis.Response) -> None:
    """A refusal (4xx/5xx) is JSON with a string ``error`` field."""
    if response.status_code < 400:
        return
    if response.status_code == 400 and response.content == UVICORN_PARSER_REFUSAL:
        return  # a header no HTTP parser accepts: uvicorn refuses it before the app runs
    body = json.loads(response.content)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), (response.status_code, body)


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_conforms_to_its_openapi(case: schemathesis.Case, stack: Stack) -> None:
    response = case.call(base_url=stack.gateway_url, headers=AUTH)
    if response.status_code >= 500 and upstream_answers_the_same(case, stack.echo_url, response.status_code):
        return  # the stand-in upstream's own 5xx (e.g. a JSON list to :predict), passed through as is
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code != 422:  # 422: the upstream's own validation, passed through as is
        check_error_body(response)


def upstream_answers_the_same(case: schemathesis.Case, echo_url: str, status: int) -> bool:
    """Replay ``case`` straight to the upstream: the gateway only relays a 5xx the upstream gives too."""
    return case.call(base_url=echo_url).status_code == status


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, headers=AUTH, timeout=10) as http:
        yield http


INFER = "/v2/models/moderation/infer"


def test_oversized_body_is_413(client: httpx.Client) -> None:
    response = client.post(INFER, content=b"[" + b"0," * MAX_BODY_BYTES + b"0]")
    assert response.status_code == 413
    check_error_body(response)


def test_oversized_chunked_body_is_413(client: httpx.Client) -> None:
    chunks = iter([b'{"inputs": ["', b"x" * MAX_BODY_BYTES, b'"]}'])
    response = client.post(INFER, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    check_error_body(response)


@pytest.mark.parametrize("path", [INFER, "/v1/models/moderation:predict"])
def test_deeply_nested_json_is_a_4xx(client: httpx.Client, path: str) -> None:
    response = client.post(
        path, content=b"[" * 10_000 + b"]" * 10_000, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    check_error_body(response)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"instances": ["x"]}'),
        ("multipart/form-data; boundary=x", b'{"instances": ["x"]}'),
        ("application/x-www-form-urlencoded", b"instances=x"),  # form fields; a JSON body would pass
    ],
)
def test_wrong_content_type_is_415(client: httpx.Client, content_type: str, body: bytes) -> None:
    response = client.post(
        "/v1/models/moderation:predict", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 415
    check_error_body(response)


BINARY_HEADER = json.dumps(
    {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 5}}]}
).encode()


@pytest.mark.parametrize("declared", ["999", "-1", "abc", "1.5", "", "0x10", "²"])
def test_binary_infer_with_a_lying_header_length_is_400(client: httpx.Client, declared: str) -> None:
    header = BINARY_HEADER
    response = client.post(
        INFER,
        content=header + b"\x01\x00\x00\x00x",
        headers={"inference-header-content-length": declared.encode("latin-1")},
    )
    assert response.status_code == 400
    check_error_body(response)


def test_binary_infer_with_a_true_header_length_is_forwarded(client: httpx.Client) -> None:
    header = BINARY_HEADER
    body = header + b"\x01\x00\x00\x00x"
    response = client.post(INFER, content=body, headers={"inference-header-content-length": str(len(header))})
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [len(body)]


@pytest.mark.parametrize("model", MODELS)
def test_mutated_requests_never_get_a_gateway_5xx(client: httpx.Client, stack: Stack, model: str) -> None:
    """Seeded mutations of real V1/V2 requests (tests/mutations.py): the gateway forwards what is
    well-formed and refuses the rest with a JSON error naming the problem. A 5xx is allowed only
    when the stand-in upstream gives the same to the same request (it is no model: it echoes)."""
    statuses: Counter[int] = Counter()
    for number, case in enumerate(mutations.cases(model, seed=7, count=150)):
        response = client.post(case.path, content=case.body, headers=case.headers)
        if response.status_code >= 500:
            direct = httpx.post(stack.echo_url + case.path, content=case.body, headers=case.headers)
            assert direct.status_code == response.status_code, (number, response.status_code, response.text)
            continue
        check_error_body(response)
        statuses[response.status_code] += 1
    assert statuses[200] and statuses[400], statuses
