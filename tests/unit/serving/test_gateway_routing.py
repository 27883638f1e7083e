"""Routing: which upstream answers, what the answer carries, and how failures read."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from serving.gateway.config import Upstream
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import MODELS, GatewayFactory, config_for, gateway_client

pytestmark = pytest.mark.anyio
INFER_BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0.5]}]}


@pytest.fixture(scope="module")
def self_versioned_echo() -> Iterator[tuple[str, FastAPI]]:
    """An upstream that reports its own version (7) in x-modelyard-version."""
    with running_echo_upstream(version_header="7") as served:
        yield served


def unreachable_url() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_answer_names_model_and_route_version(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v2/models/ranking/infer", json=INFER_BODY)
    assert response.status_code == 200
    assert response.json()["model_name"] == "ranking"
    assert response.headers["x-modelyard-model"] == "ranking"
    assert response.headers["x-modelyard-version"] == "1"
    assert response.headers["x-request-id"]


async def test_upstream_version_header_wins_over_route_version(
    self_versioned_echo: tuple[str, FastAPI],
) -> None:
    routes = {"ranking": [Upstream(url=self_versioned_echo[0], version="route-says-3")]}
    async with gateway_client(config_for(routes)) as client:
        response = await client.post("/v1/models/ranking:predict", json={"instances": [[1, 2]]})
    assert response.headers["x-modelyard-version"] == "7"


async def test_caller_request_id_is_kept_and_forwarded(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.get("/v2/models/moderation", headers={"x-request-id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["seen_headers"]["x-request-id"] == "trace-42"


async def test_unknown_model_is_404_listing_known_models(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v2/models/nope/infer", json=INFER_BODY)
    assert response.status_code == 404
    assert all(model in response.json()["error"] for model in MODELS)
    assert "x-modelyard-model" not in response.headers


async def test_version_pin_picks_that_upstream(
    echo: tuple[str, FastAPI], self_versioned_echo: tuple[str, FastAPI]
) -> None:
    (stable_url, stable_app), (canary_url, canary_app) = echo, self_versioned_echo
    routes = {"ranking": [Upstream(url=stable_url, version="1"), Upstream(url=canary_url, version="7")]}
    async with gateway_client(config_for(routes)) as client:
        before = canary_app.state.hits, stable_app.state.hits
        pinned = await client.post("/v2/models/ranking/versions/7/infer", json=INFER_BODY)
        unpinned = await client.post("/v2/models/ranking/infer", json=INFER_BODY)
    assert pinned.status_code == 200 and pinned.headers["x-modelyard-version"] == "7"
    assert unpinned.headers["x-modelyard-version"] == "1"
    assert (canary_app.state.hits, stable_app.state.hits) == (before[0] + 1, before[1] + 1)


async def test_unknown_version_is_404_naming_available_versions(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v2/models/ranking/versions/9/infer", json=INFER_BODY)
    assert response.status_code == 404
    assert "'9'" in response.json()["error"] and "available versions: 1" in response.json()["error"]


async def test_listings_show_routed_models_and_versions(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        v1 = (await client.get("/v1/models")).json()
        v2 = (await client.get("/v2/models")).json()
    assert v1 == {"models": sorted(MODELS)}
    assert v2["models"] == [{"name": model, "versions": ["1"]} for model in sorted(MODELS)]


async def test_metadata_and_ready_are_forwarded(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        metadata = await client.get("/v2/models/visual-search")
        ready = await client.get("/v2/models/visual-search/versions/1/ready")
    assert metadata.json()["name"] == "visual-search"
    assert ready.json() == {"name": "visual-search", "ready": True}


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_upstream_4xx_passes_through_unchanged(gateway: GatewayFactory, status: int) -> None:
    async with gateway() as client:
        response = await client.post(
            f"/v1/models/moderation:predict?status={status}", json={"instances": [1]}
        )
    assert response.status_code == status
    assert response.json() == {"error": f"echo refused with {status}"}
    assert response.headers["x-modelyard-model"] == "moderation"


async def test_upstream_down_is_503_naming_the_model() -> None:
    routes = {"moderation": [Upstream(url=unreachable_url(), version="4")]}
    async with gateway_client(config_for(routes)) as client:
        response = await client.post("/v1/models/moderation:predict", json={"instances": [1]})
    assert response.status_code == 503
    assert "'moderation'" in response.json()["error"] and "unreachable" in response.json()["error"]
    assert response.headers["x-modelyard-version"] == "4"


async def predict_statuses(client: httpx.AsyncClient, count: int) -> list[int]:
    """Statuses of ``count`` moderation predictions sent one after another."""
    return [
        (await client.post("/v1/models/moderation:predict", json={"instances": [i]})).status_code
        for i in range(count)
    ]


async def test_replicas_share_requests_round_robin() -> None:
    with running_echo_upstream() as (first_url, first), running_echo_upstream() as (second_url, second):
        routes = {"moderation": [Upstream(url=first_url, version="1", replicas=(second_url,))]}
        async with gateway_client(config_for(routes)) as client:
            statuses = await predict_statuses(client, 6)
    assert statuses == [200] * 6
    assert (first.state.hits, second.state.hits) == (3, 3)


async def test_a_refusing_replica_is_skipped_and_ready_needs_one_replica(echo: tuple[str, FastAPI]) -> None:
    url, app = echo
    before = app.state.hits
    routes = {"moderation": [Upstream(url=unreachable_url(), version="1", replicas=(url,))]}
    async with gateway_client(config_for(routes)) as client:
        statuses = await predict_statuses(client, 4)
        ready = await client.get("/v2/health/ready")
    assert statuses == [200] * 4
    assert app.state.hits - before == 4
    assert ready.status_code == 200


@asynccontextmanager
async def hanging_up_upstream() -> AsyncIterator[str]:
    """A loopback server that reads the request and closes the connection without answering
    (a transformer killed mid-request)."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_request_dropped_by_a_replica_is_resent_once_to_the_next(echo: tuple[str, FastAPI]) -> None:
    url, app = echo
    before = app.state.hits
    async with hanging_up_upstream() as dropping:
        routes = {"moderation": [Upstream(url=dropping, version="1", replicas=(url,))]}
        async with gateway_client(config_for(routes)) as client:
            statuses = await predict_statuses(client, 4)
    assert statuses == [200] * 4
    assert app.state.hits - before == 4


async def test_a_dropped_request_without_another_replica_is_503() -> None:
    async with hanging_up_upstream() as dropping:
        routes = {"moderation": [Upstream(url=dropping, version="1")]}
        async with gateway_client(config_for(routes)) as client:
            response = await client.post("/v1/models/moderation:predict", json={"instances": [1]})
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]


async def test_upstream_timeout_is_503_naming_the_model(gateway: GatewayFactory) -> None:
    async with gateway(upstream_timeout_s=0.2) as client:
        response = await client.post("/v1/models/ranking:predict?delay=1", json={"instances": [1]})
    assert response.status_code == 503
    assert "'ranking'" in response.json()["error"] and "0.2 s" in response.json()["error"]


async def test_gateway_stays_ready_when_upstreams_are_not_and_says_which(echo: tuple[str, FastAPI]) -> None:
    """Readiness is the gateway's own (one model down must not pull every gateway pod out of its
    Service); the body lists the upstreams that did not answer ready."""
    with running_echo_upstream(ready=False) as (loading_url, _):
        routes = {
            "ranking": [Upstream(url=echo[0], version="1")],
            "moderation": [Upstream(url=loading_url, version="2")],
            "visual-search": [Upstream(url=unreachable_url(), version="5")],
        }
        async with gateway_client(config_for(routes), authenticated=False) as client:
            response = await client.get("/v2/health/ready")
            live = await client.get("/v2/health/live")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "unready": ["moderation@2", "visual-search@5"]}
    assert live.json() == {"live": True}


async def test_server_ready_when_every_upstream_is_ready(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False) as client:
        response = await client.get("/v2/health/ready")
    assert (response.status_code, response.json()) == (200, {"ready": True, "unready": []})
