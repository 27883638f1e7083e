"""The gateway app: one authenticated entry point in front of the per-model transformers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from modelyard.errors import UsageError
from modelyard.logs import event

from . import schemas
from .auth import auth_dependencies
from .config import GatewayConfig
from .errors import install_error_handlers
from .limits import read_model_input
from .metrics import GatewayMetrics
from .middleware import RequestRecordMiddleware, request_record
from .proxy import UpstreamProxy
from .routing import RouteTable

if TYPE_CHECKING:
    from serving.rollout import GatewayRollouts

log = logging.getLogger(__name__)

_COMPONENT_REF = "#/components/schemas/{model}"
BodyRule = Literal["none", "json", "json_or_binary"]
"""What a route reads: no body, a JSON body, or JSON or a V2 binary-tensor body."""
_AUTH_ERROR: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing or invalid API key"}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    **_AUTH_ERROR,
    404: {
        "model": schemas.ErrorBody,
        "description": "Unknown model or version (the message lists the known ones)",
    },
    503: {"model": schemas.ErrorBody, "description": "The model's server is down or did not answer in time"},
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": schemas.ErrorBody, "description": "Malformed JSON, or rejected by the model server"},
    413: {"model": schemas.ErrorBody, "description": "Body larger than the gateway's limit"},
    415: {"model": schemas.ErrorBody, "description": "Body is not JSON"},
    422: {"description": "Rejected by the model server's request validation"},
}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": _COMPONENT_REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(config: GatewayConfig) -> FastAPI:
    """Build the gateway for ``config`` (auth on needs ``config.api_key`` resolved)."""
    if config.auth_enabled and config.api_key is None:
        raise UsageError("auth is on but no API key was resolved", hint="call auth.resolve_api_key first")
    routes = RouteTable(config.routes)
    metrics = GatewayMetrics()
    proxy = UpstreamProxy(config.upstream_timeout_s)
    from serving.rollout import GatewayRollouts  # here: serving.rollout imports this package

    rollouts = GatewayRollouts(
        routes,
        metrics.registry,
        config.rollouts_file,
        config.upstream_timeout_s,
        proxy.is_ready,
        readonly=config.rollouts_readonly,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        event(log, "gateway_started", models=routes.models, auth=config.auth_enabled)
        rollouts.follow(config.rollouts_poll_s)
        yield
        await rollouts.aclose()
        await proxy.aclose()
        event(log, "gateway_stopped")

    app = FastAPI(
        title="modelyard gateway",
        version="1",
        description="One authenticated entry point to every model: KServe V1 and Open Inference V2.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestRecordMiddleware, metrics=metrics)
    app.include_router(_health_router(routes, proxy, metrics))
    auth = auth_dependencies(config.api_key if config.auth_enabled else None)
    app.include_router(_model_router(config, routes, proxy, metrics, rollouts), dependencies=auth)
    app.include_router(rollouts.admin_router(), dependencies=auth)
    app.openapi = lambda: _openapi_with_body_schemas(app)  # type: ignore[method-assign]
    return app


def _health_router(routes: RouteTable, proxy: UpstreamProxy, metrics: GatewayMetrics) -> APIRouter:
    """Open endpoints: probes for Kubernetes and the Prometheus scrape."""
    router = APIRouter(tags=["health"])

    @router.get("/v2/health/live", response_model=schemas.ServerLive)
    async def live() -> schemas.ServerLive:
        return schemas.ServerLive(live=True)

    @router.get(
        "/v2/health/ready",
        response_model=schemas.ServerReady,
        responses={503: {"model": schemas.ServerReady, "description": "Some upstream is not ready"}},
    )
    async def ready() -> JSONResponse:
        readiness = await proxy.readiness(routes.all_upstreams())
        unready = sorted(name for name, ok in readiness.items() if not ok)
        body = schemas.ServerReady(ready=not unready, unready=unready)
        return JSONResponse(body.model_dump(), status_code=503 if unready else 200)

    @router.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def _model_router(
    config: GatewayConfig,
    routes: RouteTable,
    proxy: UpstreamProxy,
    metrics: GatewayMetrics,
    rollouts: GatewayRollouts,
) -> APIRouter:
    """Authenticated model routes; each resolves an upstream and forwards to it."""
    router = APIRouter(tags=["models"])

    async def forward(
        request: Request, model: str, path: str, version: str | None = None, body: BodyRule = "none"
    ) -> Response:
        record = request_record(request)
        choice = rollouts.choose(model, version, request, record.request_id)
        upstream = choice.upstream
        record.model, record.version = model, upstream.version
        with metrics.tracking_in_flight(model, upstream.version):
            content = None
            if body != "none":
                binary_ok = body == "json_or_binary"
                content = await read_model_input(request, config.max_body_bytes, allow_binary_infer=binary_ok)
            response = await proxy.forward(request, record, upstream, path, content)
        rollouts.after_response(choice, model, path, request, content, response)
        return response

    @router.get("/v1/models", response_model=schemas.V1ModelList, responses=_AUTH_ERROR)
    async def v1_models() -> schemas.V1ModelList:
        return schemas.V1ModelList(models=routes.models)

    @router.post(
        "/v1/models/{model}:predict",
        response_model=schemas.V1PredictResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.V1PredictRequest),
    )
    async def v1_predict(model: str, request: Request) -> Response:
        return await forward(request, model, f"/v1/models/{model}:predict", body="json")

    @router.get("/v2/models", response_model=schemas.V2ModelList, responses=_AUTH_ERROR)
    async def v2_models() -> schemas.V2ModelList:
        entries = [
            schemas.V2ModelEntry(name=model, versions=[u.version for u in routes.upstreams(model)])
            for model in routes.models
        ]
        return schemas.V2ModelList(models=entries)

    @router.get("/v2/models/{model}", response_model=schemas.ModelMetadata, responses=_ERRORS)
    async def v2_metadata(model: str, request: Request) -> Response:
        return await forward(request, model, f"/v2/models/{model}")

    @router.get(
        "/v2/models/{model}/versions/{version}", response_model=schemas.ModelMetadata, responses=_ERRORS
    )
    async def v2_version_metadata(model: str, version: str, request: Request) -> Response:
        return await forward(request, model, f"/v2/models/{model}", version)

    @router.get("/v2/models/{model}/ready", response_model=schemas.ModelReady, responses=_ERRORS)
    async def v2_ready(model: str, request: Request) -> Response:
        return await forward(request, model, f"/v2/models/{model}/ready")

    @router.get(
        "/v2/models/{model}/versions/{version}/ready", response_model=schemas.ModelReady, responses=_ERRORS
    )
    async def v2_version_ready(model: str, version: str, request: Request) -> Response:
        return await forward(request, model, f"/v2/models/{model}/ready", version)

    @router.post(
        "/v2/models/{model}/infer",
        response_model=schemas.InferenceResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.InferenceRequest),
    )
    async def v2_infer(model: str, request: Request) -> Response:
        """Open Inference Protocol V2 inference on the model's stable version.

        Binary tensors: send a JSON header followed by raw bytes, with the header's length in
        ``Inference-Header-Content-Length`` (any content type).
        """
        return await forward(request, model, f"/v2/models/{model}/infer", body="json_or_binary")

    @router.post(
        "/v2/models/{model}/versions/{version}/infer",
        response_model=schemas.InferenceResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.InferenceRequest),
    )
    async def v2_version_infer(model: str, version: str, request: Request) -> Response:
        """V2 inference on one pinned version (404 lists the versions routed)."""
        # KServe answers versioned paths with 501, so the pinned upstream gets the plain path.
        return await forward(request, model, f"/v2/models/{model}/infer", version, body="json_or_binary")

    return router


def _openapi_with_body_schemas(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request-body schemas the routes reference but never parse."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, definitions = models_json_schema(
            [(model, "validation") for model in schemas.REQUEST_BODY_MODELS], ref_template=_COMPONENT_REF
        )
        document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        app.openapi_schema = document
    return app.openapi_schema
