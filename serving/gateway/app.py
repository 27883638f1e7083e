"""The gateway app: one authenticated entry point in front of the per-model transformers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from modelyard.errors import UsageError
from modelyard.logs import event

from . import schemas
from .auth import api_key_check, auth_dependencies
from .config import GatewayConfig
from .errors import install_error_handlers
from .fast_path import FastPath, GatewayApp
from .forwarding import V1_PREDICT, V2_INFER, V2_VERSION_INFER, BodyRoute, ModelForwarder
from .incoming import Incoming
from .metrics import GatewayMetrics
from .middleware import RequestRecordMiddleware, request_record
from .proxy import UpstreamProxy
from .routing import RouteTable

log = logging.getLogger(__name__)

_COMPONENT_REF = "#/components/schemas/{model}"
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


def create_app(config: GatewayConfig) -> GatewayApp:
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

    app = GatewayApp(
        title="modelyard gateway",
        version="1",
        description="One authenticated entry point to every model: KServe V1 and Open Inference V2.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestRecordMiddleware, metrics=metrics)
    app.include_router(_health_router(routes, proxy, metrics))
    check_key = api_key_check(config.api_key if config.auth_enabled else None)
    auth = auth_dependencies(check_key)
    forwarder = ModelForwarder(rollouts, proxy, metrics, config.max_body_bytes)
    app.include_router(_model_router(routes, forwarder), dependencies=auth)
    app.include_router(rollouts.admin_router(), dependencies=auth)
    app.openapi = lambda: _openapi_with_body_schemas(app)  # type: ignore[method-assign]
    app.fast_path = FastPath(forwarder, check_key, metrics, debug=app.debug)
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


def _model_router(routes: RouteTable, forwarder: ModelForwarder) -> APIRouter:
    """Authenticated model routes; each resolves an upstream and forwards to it.

    POSTs to the body routes are served by the fast path in front of FastAPI; they are declared
    here too, for the OpenAPI document, and answer the same when reached.
    """
    router = APIRouter(tags=["models"])

    async def forward(request: Request, model: str, path: str, version: str | None = None) -> Response:
        incoming = Incoming.from_request(request)
        return await forwarder.forward(incoming, request_record(request.scope), model, path, version)

    async def forward_body(
        request: Request, route: BodyRoute, model: str, version: str | None = None
    ) -> Response:
        incoming = Incoming.from_request(request)
        return await forwarder.forward_body(route, incoming, request_record(request.scope), model, version)

    @router.get("/v1/models", response_model=schemas.V1ModelList, responses=_AUTH_ERROR)
    async def v1_models() -> schemas.V1ModelList:
        return schemas.V1ModelList(models=routes.models)

    @router.post(
        V1_PREDICT.path,
        response_model=schemas.V1PredictResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.V1PredictRequest),
    )
    async def v1_predict(model: str, request: Request) -> Response:
        return await forward_body(request, V1_PREDICT, model)

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
        V2_INFER.path,
        response_model=schemas.InferenceResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.InferenceRequest),
    )
    async def v2_infer(model: str, request: Request) -> Response:
        """Open Inference Protocol V2 inference on the model's stable version.

        Binary tensors: send a JSON header followed by raw bytes, with the header's length in
        ``Inference-Header-Content-Length`` (any content type).
        """
        return await forward_body(request, V2_INFER, model)

    @router.post(
        V2_VERSION_INFER.path,
        response_model=schemas.InferenceResponse,
        responses=_BODY_ERRORS,
        openapi_extra=_json_body(schemas.InferenceRequest),
    )
    async def v2_version_infer(model: str, version: str, request: Request) -> Response:
        """V2 inference on one pinned version (404 lists the versions routed)."""
        return await forward_body(request, V2_VERSION_INFER, model, version)

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
