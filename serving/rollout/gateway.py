"""The gateway's rollout layer: which variant answers, the shadow copy, and the admin API.

Changes arrive over ``PUT /admin/rollouts/{model}`` (same API key as the model routes) and
take effect on the next request; every change is written to ``rollouts.json`` first, so a
restarted gateway comes back with the same split.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError

from modelyard.logs import event
from modelyard.rollout.split import routing_key, takes_canary
from modelyard.rollout.state import (
    Rollout,
    RolloutSpec,
    Variant,
    build_rollout,
    read_rollouts,
    write_rollouts,
)
from serving.gateway.config import Upstream
from serving.gateway.errors import GatewayError
from serving.gateway.routing import RouteTable

from .metrics import RolloutMetrics
from .shadow import ShadowMirror

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0
_MIRRORED_HEADERS = ("content-type", "inference-header-content-length", "x-request-id")


@dataclass(frozen=True)
class Choice:
    upstream: Upstream
    role: Literal["stable", "canary", "pinned"]
    shadow: Upstream | None = None
    """Shadow mode: the candidate that gets a copy of this request."""


class RolloutView(BaseModel):
    """``GET /admin/rollouts/{model}``: the configured routes and the rollout on top of them."""

    model: str
    configured: list[Upstream]
    rollout: Rollout | None


def _upstream(variant: Variant) -> Upstream:
    return Upstream(url=variant.url, version=variant.version)


def _variant(upstream: Upstream) -> Variant:
    return Variant(url=upstream.url, version=upstream.version)


class GatewayRollouts:
    """Rollouts of the routed models; ``state_file`` None keeps them in memory only."""

    def __init__(
        self, routes: RouteTable, registry: CollectorRegistry, state_file: Path | None, timeout_s: float
    ) -> None:
        self.routes = routes
        self.state_file = state_file
        self.metrics = RolloutMetrics(registry)
        self.mirror = ShadowMirror(self.metrics, timeout_s)
        self._lock = asyncio.Lock()
        self.rollouts = self._load()

    def _load(self) -> dict[str, Rollout]:
        """Saved rollouts whose configured stable is still the one they took over from."""
        kept = {}
        for model, rollout in (read_rollouts(self.state_file) if self.state_file else {}).items():
            configured = self._configured_stable(model)
            if configured is None or configured != rollout.base:
                event(
                    log,
                    "rollout_dropped",
                    logging.WARNING,
                    model=model,
                    reason="routes changed since it started",
                )
                continue
            kept[model] = rollout
            self._publish(rollout)
        if kept:
            event(log, "rollouts_restored", models=sorted(kept))
        return kept

    def _configured_stable(self, model: str) -> Variant | None:
        return _variant(self.routes.upstreams(model)[0]) if model in self.routes.models else None

    # --- per request -----------------------------------------------------------------

    def choose(self, model: str, version: str | None, request: Request, request_id: str) -> Choice:
        """The variant answering this request (a version pin always wins)."""
        rollout = self.rollouts.get(model)
        if rollout is None:
            return Choice(self.routes.choose(model, version), "pinned" if version else "stable")
        if version is not None:
            for variant in (rollout.stable, rollout.canary, rollout.previous):
                if variant is not None and variant.version == version:
                    return Choice(_upstream(variant), "pinned")
            return Choice(self.routes.choose(model, version), "pinned")
        stable = _upstream(rollout.stable)
        if rollout.canary is None or not rollout.percent:
            return Choice(stable, "stable")
        chosen = takes_canary(model, routing_key(request.headers, request_id), rollout.percent)
        if rollout.mode == "shadow":
            return Choice(stable, "stable", _upstream(rollout.canary) if chosen else None)
        return Choice(_upstream(rollout.canary), "canary") if chosen else Choice(stable, "stable")

    def after_response(
        self, choice: Choice, model: str, path: str, request: Request, body: bytes | None, response: Response
    ) -> None:
        """Send the shadow copy of a successful request (never delays ``response``)."""
        if choice.shadow is None or body is None or response.status_code != 200:
            return
        headers = {name: request.headers[name] for name in _MIRRORED_HEADERS if name in request.headers}
        headers.setdefault("content-type", "application/json")
        self.mirror.send(
            model, choice.shadow.version, choice.shadow.url + path, headers, body, bytes(response.body)
        )

    # --- changes ---------------------------------------------------------------------

    async def apply(self, model: str, spec: RolloutSpec) -> Rollout:
        configured = self._configured_stable(model)
        if configured is None:
            raise GatewayError(404, f"unknown model {model!r}; known models: {', '.join(self.routes.models)}")
        if spec.canary is not None and spec.percent and not await self._is_ready(model, spec.canary):
            raise GatewayError(
                409, f"canary {model} version {spec.canary.version} at {spec.canary.url} is not ready"
            )
        async with self._lock:
            current = self.rollouts.get(model)
            try:
                rollout = (
                    current.with_spec(spec)
                    if current
                    else build_rollout(model, spec, configured, configured, history=[])
                )
            except (ValueError, ValidationError) as exc:
                raise GatewayError(400, str(exc)) from None
            self._save({**self.rollouts, model: rollout})
            self.rollouts[model] = rollout
        self._publish(rollout)
        event(
            log,
            "rollout_changed",
            model=model,
            mode=rollout.mode,
            phase=rollout.phase,
            stable=rollout.stable.version,
            canary=rollout.canary.version if rollout.canary else None,
            percent=rollout.percent,
            reason=rollout.reason,
        )
        return rollout

    async def remove(self, model: str) -> None:
        async with self._lock:
            if model not in self.rollouts:
                raise GatewayError(404, f"no rollout for model {model!r}")
            self._save({name: r for name, r in self.rollouts.items() if name != model})
            del self.rollouts[model]
        self.metrics.percent.labels(model, "canary").set(0)
        self.metrics.percent.labels(model, "shadow").set(0)
        event(log, "rollout_removed", model=model)

    def _save(self, rollouts: dict[str, Rollout]) -> None:
        if self.state_file is not None:
            write_rollouts(self.state_file, rollouts)

    def _publish(self, rollout: Rollout) -> None:
        for mode in ("canary", "shadow"):
            self.metrics.percent.labels(rollout.model, mode).set(
                rollout.percent if mode == rollout.mode else 0
            )

    async def _is_ready(self, model: str, variant: Variant) -> bool:
        try:
            answer = await self.mirror.client.get(
                f"{variant.url}/v2/models/{model}/ready", timeout=READY_TIMEOUT_S
            )
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    async def aclose(self) -> None:
        await self.mirror.aclose()

    # --- admin API -------------------------------------------------------------------

    def admin_router(self) -> APIRouter:
        router = APIRouter(prefix="/admin/rollouts", tags=["admin"])

        @router.get("", response_model=dict[str, Rollout])
        async def list_rollouts() -> dict[str, Rollout]:
            return self.rollouts

        @router.get("/{model}", response_model=RolloutView)
        async def get_rollout(model: str) -> RolloutView:
            return RolloutView(
                model=model, configured=list(self.routes.upstreams(model)), rollout=self.rollouts.get(model)
            )

        @router.put("/{model}", response_model=Rollout)
        async def put_rollout(model: str, spec: RolloutSpec) -> Rollout:
            """Set the split: candidate, percent, mode; the candidate must answer ready first."""
            return await self.apply(model, spec)

        @router.delete("/{model}", status_code=204)
        async def delete_rollout(model: str) -> Response:
            """Forget the rollout: the model's configured routes answer again."""
            await self.remove(model)
            return Response(status_code=204)

        return router
