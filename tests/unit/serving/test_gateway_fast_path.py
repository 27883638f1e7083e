"""The fast path: the hot model routes answer exactly as FastAPI's routes would, and nothing else
goes through it.

Each hot-route case is sent twice to one gateway: through the fast path, then with the fast path
switched off so FastAPI's own route answers. Status, body and every header must be the same, and
each case also pins its own status and headers, so a change breaking both ways is caught too.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import ClientDisconnect

from serving.gateway.app import create_app
from serving.gateway.config import Upstream
from serving.gateway.fast_path import GatewayApp
from serving.gateway.feedback import FEEDBACK_PATH
from serving.gateway.forwarding import BODY_ROUTES
from tests.unit.serving.gateway_harness import ADMIN, API_KEY, app_client, config_for

pytestmark = pytest.mark.anyio
LIMIT = 1000
REQUEST_ID = "fast-path-test"
PREDICT_BODY = json.dumps({"instances": [{"text": "hello"}]}).encode()
INFER_BODY = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0.5]}]}).encode()
BINARY_HEADER = json.dumps(
    {"inputs": [{"name": "x", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}}]}
).encode()
JSON = {"content-type": "application/json"}


def unreachable_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def gateway_app(echo_url: str, **overrides: Any) -> GatewayApp:
    routes = {
        "moderation": [Upstream(url=echo_url, version="1")],
        "ranking": [Upstream(url=echo_url, version="1")],
        "down": [Upstream(url=unreachable_url(), version="4")],
    }
    return create_app(config_for(routes, max_body_bytes=LIMIT, **overrides))


def spy_on_claims(app: GatewayApp, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What ``claims`` answered, request by request."""
    assert app.fast_path is not None
    real = app.fast_path.claims
    answers: list[bool] = []

    def claims(scope: Any) -> bool:
        answers.append(real(scope))
        return answers[-1]

    monkeypatch.setattr(app.fast_path, "claims", claims)
    return answers


async def both_ways(
    app: GatewayApp, client: httpx.AsyncClient, method: str, path: str, **request: Any
) -> tuple[httpx.Response, httpx.Response]:
    """(fast path's answer, FastAPI route's answer) to the same request."""
    fast_path = app.fast_path
    fast = await client.request(method, path, **_fresh(request))
    app.fast_path = None
    try:
        slow = await client.request(method, path, **_fresh(request))
    finally:
        app.fast_path = fast_path
    return fast, slow


def _fresh(request: dict[str, Any]) -> dict[str, Any]:
    """The request's arguments, with a new body stream when it is streamed (one use each)."""
    headers = {"x-request-id": REQUEST_ID, **request.get("headers", {})}
    content = request.get("content")
    return {**request, "headers": headers, "content": content() if callable(content) else content}


async def _oversized_chunks() -> AsyncIterator[bytes]:
    for _ in range(50):
        yield b" " * 100


Check = Callable[[httpx.Response], bool]


def names_model(response: httpx.Response) -> bool:
    return response.headers.get("x-modelyard-model") is not None and "x-modelyard-version" in response.headers


def anonymous(response: httpx.Response) -> bool:
    return "x-modelyard-model" not in response.headers and "x-modelyard-version" not in response.headers


CASES: list[tuple[str, str, dict[str, Any], int, Check]] = [
    ("/v1/models/moderation:predict", "json", {"content": PREDICT_BODY, "headers": JSON}, 200, names_model),
    ("/v2/models/ranking/infer", "infer", {"content": INFER_BODY}, 200, names_model),
    ("/v2/models/ranking/versions/1/infer", "pinned", {"content": INFER_BODY}, 200, names_model),
    (
        "/v2/models/ranking/infer",
        "binary",
        {
            "content": BINARY_HEADER + b"\x00\xff",
            "headers": {
                "content-type": "application/octet-stream",
                "inference-header-content-length": str(len(BINARY_HEADER)),
            },
        },
        200,
        names_model,
    ),
    ("/v1/models/moderation:predict?status=409", "query", {"content": PREDICT_BODY}, 409, names_model),
    (
        "/v1/models/moderation:predict",
        "no-key",
        {"content": PREDICT_BODY, "headers": {"x-api-key": ""}},
        401,
        lambda r: anonymous(r) and r.headers["www-authenticate"] == 'Bearer realm="modelyard"',
    ),
    (
        "/v2/models/nope/infer",
        "wrong-bearer",
        {"content": INFER_BODY, "headers": {"authorization": "Bearer wrong"}},
        401,
        lambda r: anonymous(r) and "known models" not in r.text,
    ),
    ("/v1/models/nope:predict", "unknown-model", {"content": PREDICT_BODY}, 404, anonymous),
    ("/v2/models/ranking/versions/9/infer", "unknown-version", {"content": INFER_BODY}, 404, anonymous),
    (
        "/v1/models/moderation:predict",
        "declared-too-large",
        {"content": b"[" + b"0," * LIMIT + b"0]"},
        413,
        names_model,
    ),
    ("/v2/models/ranking/infer", "streamed-too-large", {"content": _oversized_chunks}, 413, names_model),
    (
        "/v1/models/moderation:predict",
        "not-json",
        {"content": PREDICT_BODY, "headers": {"content-type": "text/plain"}},
        415,
        names_model,
    ),
    ("/v2/models/ranking/infer", "malformed", {"content": b'{"inputs": [1,]}'}, 400, names_model),
    ("/v2/models/ranking/infer", "tensor-without-name", {"content": b'{"inputs": [{}]}'}, 400, names_model),
    (
        "/v1/models/moderation:predict",
        "bad-content-length",
        {"content": b"{}", "headers": {"content-length": "-1"}},
        400,
        names_model,
    ),
    (
        "/v2/models/ranking/versions/1/infer",
        "bad-binary-length",
        {
            "content": INFER_BODY,
            "headers": {"content-type": "application/octet-stream", "inference-header-content-length": "x"},
        },
        400,
        names_model,
    ),
    (
        "/v1/models/down:predict",
        "upstream-down",
        {"content": PREDICT_BODY},
        503,
        lambda r: names_model(r) and r.headers["retry-after"] == "1" and "unreachable" in r.json()["error"],
    ),
]


@pytest.mark.parametrize(
    ("path", "name", "request_args", "status", "check"), CASES, ids=[c[1] for c in CASES]
)
async def test_hot_routes_answer_like_the_fastapi_routes(
    echo: tuple[str, FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    name: str,
    request_args: dict[str, Any],
    status: int,
    check: Check,
) -> None:
    app = gateway_app(echo[0])
    claimed = spy_on_claims(app, monkeypatch)
    async with app_client(app) as client:
        fast, slow = await both_ways(app, client, "POST", path, **request_args)
    assert claimed == [True]  # the first went through the fast path, the second did not ask
    assert (fast.status_code, slow.status_code) == (status, status)
    assert fast.content == slow.content
    assert fast.headers.multi_items() == slow.headers.multi_items()
    assert fast.headers["x-request-id"] == REQUEST_ID
    assert check(fast)
    if status >= 400 and status != 409:
        assert set(fast.json()) == {"error"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/health/live", 200),
        ("GET", "/metrics", 403),  # the admin key's
        ("GET", "/v2/models/moderation", 200),
        ("GET", "/v2/models/moderation/versions/1/ready", 200),
        ("GET", "/v1/models", 200),
        ("GET", "/admin/rollouts", 403),
        ("GET", "/openapi.json", 404),  # off unless MODELYARD_GATEWAY_DOCS
        ("GET", "/v1/models/moderation:predict", 405),
        ("PUT", "/v2/models/moderation/infer", 405),
        ("POST", "/v1/models/moderation:predict/", 307),
        ("POST", "/v2/models/a/b/infer", 404),
        ("POST", "/v3/anything", 404),
    ],
)
async def test_other_requests_reach_fastapi(
    echo: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch, method: str, path: str, status: int
) -> None:
    app = gateway_app(echo[0])
    claimed = spy_on_claims(app, monkeypatch)
    async with app_client(app) as client:
        response = await client.request(method, path, content=b"{}" if method != "GET" else None)
    assert claimed == [False]
    assert response.status_code == status
    assert response.headers["x-request-id"]


async def test_openapi_lists_every_fast_path_route(echo: tuple[str, FastAPI]) -> None:
    app = gateway_app(echo[0], docs=True)
    async with app_client(app, authenticated=False) as client:
        document = (await client.get("/openapi.json")).json()
    documented_posts = {path for path, operations in document["paths"].items() if "post" in operations}
    assert {route.path for route in BODY_ROUTES} <= documented_posts
    documented_posts.remove(FEEDBACK_PATH)  # validated and logged by the gateway, not forwarded
    assert app.fast_path is not None
    for path in documented_posts:
        concrete = path.format(model="moderation", version="1")
        scope = {"type": "http", "method": "POST", "path": concrete, "root_path": "", "headers": []}
        assert app.fast_path.claims(scope), path


async def test_logs_and_metrics_are_the_same_either_way(
    echo: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving.gateway.requests")
    app = gateway_app(echo[0])
    async with app_client(app) as client:
        for path in ("/v1/models/moderation:predict", "/v1/models/moderation:predict?status=422"):
            await both_ways(app, client, "POST", path, content=PREDICT_BODY)
        await both_ways(app, client, "POST", "/v1/models/moderation:predict", content=b"{")
        scrape = (await client.get("/metrics", headers=ADMIN)).text
    lines = [
        {k: v for k, v in r.fields.items() if k != "ms"}
        for r in caplog.records
        if r.getMessage() == "gateway_request"
    ]
    assert len(lines) == 6
    assert lines[0::2] == lines[1::2]
    assert [line["status"] for line in lines[0::2]] == [200, 422, 400]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    counted = {
        code: samples[
            ("modelyard_gateway_requests_total", (("code", code), ("model", "moderation"), ("version", "1")))
        ]
        for code in ("200", "422", "400")
    }
    assert counted == {"200": 2, "422": 2, "400": 2}
    errors = (
        "modelyard_gateway_errors_total",
        (("kind", "client_error"), ("model", "moderation"), ("version", "1")),
    )
    assert samples[errors] == 4
    in_flight = ("modelyard_gateway_in_flight_requests", (("model", "moderation"), ("version", "1")))
    assert samples[in_flight] == 0


async def test_a_bug_is_a_plain_500_either_way(
    echo: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving.gateway.requests")
    app = gateway_app(echo[0])
    assert app.fast_path is not None

    async def broken(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(app.fast_path.forwarder, "forward_body", broken)
    async with app_client(app, raise_app_exceptions=False) as client:
        fast, slow = await both_ways(
            app, client, "POST", "/v1/models/moderation:predict", content=PREDICT_BODY
        )
    assert (fast.status_code, fast.text) == (slow.status_code, slow.text) == (500, "Internal Server Error")
    assert fast.headers.multi_items() == slow.headers.multi_items()
    statuses = [r.fields["status"] for r in caplog.records if r.getMessage() == "gateway_request"]
    assert statuses == [500, 500]


async def test_a_client_gone_mid_body_ends_the_request_either_way(echo: tuple[str, FastAPI]) -> None:
    app = gateway_app(echo[0])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/models/moderation:predict",
        "raw_path": b"/v1/models/moderation:predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-api-key", API_KEY.encode()), (b"x-request-id", REQUEST_ID.encode())],
        "scheme": "http",
        "server": ("gateway", 80),
        "client": ("127.0.0.1", 1234),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    sent: dict[str, list[dict[str, Any]]] = {}
    for way in ("fast", "fastapi"):
        messages = iter(
            [{"type": "http.request", "body": b'{"inst', "more_body": True}, {"type": "http.disconnect"}]
        )
        sent[way] = []

        async def receive() -> dict[str, Any]:
            return next(messages)  # noqa: B023

        async def send(message: dict[str, Any]) -> None:
            sent[way].append(message)  # noqa: B023

        if way == "fastapi":
            app.fast_path = None
        with pytest.raises(ClientDisconnect):
            await app(dict(scope), receive, send)
    assert sent["fast"] == sent["fastapi"]
    assert sent["fast"][0]["status"] == 500
