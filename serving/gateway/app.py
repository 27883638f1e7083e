"""The gateway app: one authenticated entry point in front of the per-model transformers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from modelyard.errors import UsageError
from modelyard.logs import event

from . import schemas
from .auth import auth_dependencies, key_checks
from .config import GatewayConfig
from .console.catalogue import Catalogue
from .console.router import data_router, page_router
from .console.traffic import TrafficView
from .errors import install_error_handlers
from .fast_path import FastPath, GatewayApp
from .feedback import FEEDBACK_BODIES, FEEDBACK_ERRORS, FeedbackLog, feedback_router
from .forwarding import V1_PREDICT, V2_INFER, V2_VERSION_INFER, BodyRoute, ModelForwarder
from .incoming import Incoming
from .metrics import GatewayMetrics, serving_metrics_port
from .middleware import RequestRecordMiddleware, request_record
from .proxy import UpstreamProxy
from .rollout.admin import admin_router
from .rollout.table import GatewayRollouts
from .routing import RouteTable

log = logging.getLogger(__name__)

_COMPONENT_REF = "#/components/schemas/{model}"
_AUTH_ERROR: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing or invalid API key"}
}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing or invalid admin key"},
    403: {"model": schemas.ErrorBody, "description": "The client API key, not the admin key"},
}
READY_PROBE_BUDGET_S = 0.5
"""The readiness answer waits at most this long for the upstreams' own (kubelet's probe
timeout is 1 s by default); an upstream that has not answered by then is listed as unready."""
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
    """Build the gateway for ``config`` (auth on needs ``config.api_key`` and ``admin_key`` resolved)."""
    _require_keys(config)
    routes = RouteTable(config.routes)
    metrics = GatewayMetrics(config.monitor_dir)
    proxy = UpstreamProxy(config.upstream_timeout_s)
    feedback = (
        FeedbackLog(config.feedback_dir, config.feedback_sink, metrics) if config.feedback_dir else None
    )

    rollouts = GatewayRollouts(
        routes,
        metrics.registry,
        config.rollouts_file,
        config.upstream_timeout_s,
        proxy.is_ready,
        readonly=config.rollouts_readonly,
        allowed_origins=config.allowed_upstreams,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        event(log, "gateway_started", models=routes.models, auth=config.auth_enabled, docs=config.docs)
        rollouts.follow(config.rollouts_poll_s)
        with serving_metrics_port(metrics, config.host, config.metrics_port):
            yield
        await rollouts.aclose()
        await proxy.aclose()
        if feedback is not None:
            await feedback.aclose()
        event(log, "gateway_stopped")

    docs = config.docs
    app = GatewayApp(
        title="modelyard gateway",
        version="1",
        description="One authenticated entry point to every model: KServe V1 and Open Inference V2.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app)
    app.add_middleware(RequestRecordMiddleware, metrics=metrics)
    app.include_router(_health_router(routes, proxy))
    check_key, check_admin_key = key_checks(
        config.api_key if config.auth_enabled else None, config.admin_key if config.auth_enabled else None
    )
    forwarder = ModelForwarder(rollouts, proxy, metrics, config.max_body_bytes)
    app.include_router(_model_router(routes, forwarder), dependencies=auth_dependencies(check_key))
    app.include_router(
        feedback_router(routes, feedback, config.max_body_bytes, {**_AUTH_ERROR, **FEEDBACK_ERRORS}),
        dependencies=auth_dependencies(check_key),
    )
    admin = auth_dependencies(check_admin_key)
    app.include_router(_metrics_router(metrics), dependencies=admin)
    app.include_router(admin_router(rollouts, _ADMIN_ERRORS), dependencies=admin)
    if config.console:
        app.include_router(page_router())
        traffic = TrafficView(rollouts, metrics.exposition)
        app.include_router(
            data_router(Catalogue(config.catalogue_dir), traffic),
            dependencies=auth_dependencies(check_key),
            responses=_AUTH_ERROR,
        )
    app.openapi = lambda: _openapi_with_body_schemas(app)  # type: ignore[method-assign]
    app.fast_path = FastPath(forwarder, check_key, metrics, debug=app.debug)
    return app


def _require_keys(config: GatewayConfig) -> None:
    if not config.auth_enabled:
        return
    if config.api_key is None or config.admin_key is None:
        raise UsageError(
            "auth is on but the keys were not resolved", hint="call modelyard.keys.resolve_key first"
        )
    if config.api_key.get_secret_value() == config.admin_key.get_secret_value():
        raise UsageError(
            "the admin key equals the client API key", hint="give MODELYARD_ADMIN_KEY its own value"
        )


def _health_router(routes: RouteTable, proxy: UpstreamProxy) -> APIRouter:
    """Open endpoints: the probes for Kubernetes."""
    router = APIRouter(tags=["health"])

    @router.get("/v2/health/live", response_model=schemas.ServerLive)
    async def live() -> schemas.ServerLive:
        return schemas.ServerLive(live=True)

    @router.get("/v2/health/ready", response_model=schemas.ServerReady)
    async def ready() -> schemas.ServerReady:
        """The gateway's own readiness: 200 whenever it serves, whatever its upstreams say.

        A gateway pod out of its Service helps no one: with one model down, every gateway pod
        would leave and take the healthy models with it. ``unready`` lists the upstreams that
        did not answer ready within half a second; ``/v2/models/{model}/ready`` is per model.
        """
        readiness = await proxy.readiness(routes.all_upstreams(), READY_PROBE_BUDGET_S)
        unready = sorted(name for name, ok in readiness.items() if not ok)
        return schemas.ServerReady(ready=True, unready=unready)

    return router


def _metrics_router(metrics: GatewayMetrics) -> APIRouter:
    """The Prometheus scrape on the API port, behind the admin key (``metrics_port`` serves it
    without one, for scrapers that cannot send a key)."""
    router = APIRouter(tags=["admin"])

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
            [(model, "validation") for model in (*schemas.REQUEST_BODY_MODELS, *FEEDBACK_BODIES.values())],
            ref_template=_COMPONENT_REF,
        )
        document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        app.openapi_schema = document
    return app.openapi_schema
