"""Metrics and logs per model and version, as scraped and as logged."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.serving.gateway_harness import ADMIN, GatewayFactory

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/moderation:predict"


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics keyed by (name, sorted labels)."""
    response = await client.get("/metrics", headers=ADMIN)
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


async def test_requests_errors_and_latency_are_counted_per_model_version_code(
    gateway: GatewayFactory,
) -> None:
    async with gateway(upstream_timeout_s=0.3) as client:
        for _ in range(3):
            await client.post(PREDICT, json={"instances": [1]})
        await client.post(f"{PREDICT}?status=422", json={"instances": [1]})
        await client.post(f"{PREDICT}?delay=1", json={"instances": [1]})
        await client.post("/v1/models/not-routed:predict", json={"instances": [1]})
        samples = await scrape(client)
    assert (
        samples["modelyard_gateway_requests_total", labels(model="moderation", version="1", code="200")] == 3
    )
    assert (
        samples["modelyard_gateway_requests_total", labels(model="moderation", version="1", code="422")] == 1
    )
    assert (
        samples["modelyard_gateway_requests_total", labels(model="moderation", version="1", code="503")] == 1
    )
    errors = {
        kind: samples.get(
            ("modelyard_gateway_errors_total", labels(model="moderation", version="1", kind=kind))
        )
        for kind in ("client_error", "upstream_unavailable")
    }
    assert errors == {"client_error": 1, "upstream_unavailable": 1}
    assert (
        samples["modelyard_gateway_request_duration_seconds_count", labels(model="moderation", version="1")]
        == 5
    )
    assert not any("not-routed" in str(key) for key in samples)


async def test_in_flight_gauge_counts_a_request_while_it_runs(gateway: GatewayFactory) -> None:
    gauge = ("modelyard_gateway_in_flight_requests", labels(model="ranking", version="1"))
    async with gateway() as client:
        slow = asyncio.create_task(
            client.post("/v1/models/ranking:predict?delay=0.5", json={"instances": [1]})
        )
        await asyncio.sleep(0.2)
        during = (await scrape(client))[gauge]
        assert (await slow).status_code == 200
        after = (await scrape(client))[gauge]
    assert (during, after) == (1, 0)


async def test_one_structured_log_line_per_request(
    gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving.gateway.requests")
    async with gateway() as client:
        await client.post(PREDICT, json={"instances": [1]}, headers={"x-request-id": "req-1"})
        await client.get("/v2/health/live")
        await client.get("/metrics", headers=ADMIN)
    lines = [r for r in caplog.records if r.getMessage() == "gateway_request"]
    assert len(lines) == 1  # probes and scrapes are not logged
    fields = lines[0].fields
    assert {k: fields[k] for k in ("request_id", "model", "version", "status", "path")} == {
        "request_id": "req-1",
        "model": "moderation",
        "version": "1",
        "status": 200,
        "path": PREDICT,
    }
    assert fields["ms"] > 0


async def test_forged_request_id_is_replaced(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.get("/v2/models/ranking", headers={"x-request-id": "a b\tc=" + "x" * 200})
    assert len(response.headers["x-request-id"]) == 32
