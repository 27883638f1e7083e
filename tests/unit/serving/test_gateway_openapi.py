"""The OpenAPI document describes every model route's bodies, so clients and fuzzers can use it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from serving.gateway.app import create_app
from serving.gateway.config import Upstream
from serving.gateway.schemas import REQUEST_BODY_MODELS
from tests.unit.serving.gateway_harness import GatewayFactory, config_for

pytestmark = pytest.mark.anyio
BODY_ROUTES = {
    "/v1/models/{model}:predict": "V1PredictRequest",
    "/v2/models/{model}/infer": "InferenceRequest",
    "/v2/models/{model}/versions/{version}/infer": "InferenceRequest",
}


async def fetch_document(gateway: GatewayFactory) -> dict[str, Any]:
    async with gateway(authenticated=False, docs=True) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_route_is_documented(gateway: GatewayFactory) -> None:
    paths = (await fetch_document(gateway))["paths"]
    assert {
        "/v2/health/live",
        "/v2/health/ready",
        "/v1/models",
        "/v2/models",
        "/v2/models/{model}",
        "/v2/models/{model}/ready",
        "/admin/rollouts/{model}",
        *BODY_ROUTES,
    } <= set(paths)


async def test_the_admin_put_documents_its_body_and_its_refusals(gateway: GatewayFactory) -> None:
    put = (await fetch_document(gateway))["paths"]["/admin/rollouts/{model}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert {"canary", "percent", "stable", "reason"} <= set(schema["properties"])
    assert {"401", "403"} <= set(put["responses"])


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
async def test_docs_are_off_by_default(gateway: GatewayFactory, path: str) -> None:
    async with gateway() as client:
        assert (await client.get(path)).status_code == 404


async def test_body_routes_reference_request_and_response_schemas(gateway: GatewayFactory) -> None:
    document = await fetch_document(gateway)
    components = document["components"]["schemas"]
    for path, request_model in BODY_ROUTES.items():
        post = document["paths"][path]["post"]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{request_model}"
        assert "$ref" in post["responses"]["200"]["content"]["application/json"]["schema"]
        assert {"401", "404", "413", "415", "503"} <= set(post["responses"])
    assert {model.__name__ for model in REQUEST_BODY_MODELS} <= set(components)
    assert {"HTTPBearer", "APIKeyHeader"} == set(document["components"]["securitySchemes"])


def test_schemathesis_generates_valid_infer_requests() -> None:
    app = create_app(config_for({"ranking": [Upstream(url="http://127.0.0.1:9", version="1")]}, docs=True))
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)["/v2/models/{model}/infer"]["POST"]
    seen: list[dict[str, Any]] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=3, suppress_health_check=list(HealthCheck), deadline=None)
    def collect(case: Any) -> None:
        if case.media_type == "application/json":
            seen.append(case.body)

    collect()
    assert seen and all(isinstance(body["inputs"], list) and body["inputs"] for body in seen)
