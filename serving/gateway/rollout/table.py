"""The gateway's rollout layer: which variant answers, the shadow copy, and the admin API.

Changes arrive over ``PUT /admin/rollouts/{model}`` (the admin key; ``admin`` and ``admission``
say what is taken) and take effect on the next request; every change is written to
``rollouts.json`` first, so a restarted gateway comes back with the same split.

Read-only (Kubernetes: several replicas, one mounted ConfigMap): the gateway follows the file
instead, re-reading it when it changes, and the admin API refuses changes with 409.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import Response
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from modelyard.errors import DataError
from modelyard.logs import event
from serving.gateway.config import Upstream
from serving.gateway.errors import GatewayError
from serving.gateway.rollout.split import routing_key, takes_canary
from serving.gateway.rollout.state import (
    Rollout,
    RolloutSpec,
    Variant,
    apply_spec,
    parse_rollouts,
    read_rollouts,
    write_rollouts,
)
from serving.gateway.routing import RouteTable

from .admission import admit, known_variants
from .metrics import RolloutMetrics
from .shadow import ShadowMirror

log = logging.getLogger(__name__)

READ_ONLY = (
    "rollouts here are managed through the rollouts ConfigMap: "
    "use yard rollout start|set|promote|rollback --target k8s"
)
_MIRRORED_HEADERS = ("content-type", "inference-header-content-length", "x-request-id")


@dataclass(frozen=True)
class Choice:
    upstream: Upstream
    role: Literal["stable", "canary", "pinned"]
    shadow: Upstream | None = None
    """Shadow mode: the candidate that gets a copy of this request."""


def _variant(upstream: Upstream) -> Variant:
    return Variant(url=upstream.url, version=upstream.version)


class GatewayRollouts:
    """Rollouts of the routed models; ``state_file`` None keeps them in memory only, ``readonly``
    follows ``state_file`` (written by someone else) and refuses changes."""

    def __init__(
        self,
        routes: RouteTable,
        registry: CollectorRegistry,
        state_file: Path | None,
        timeout_s: float,
        is_ready: Callable[[str, Upstream], Awaitable[bool]],
        readonly: bool = False,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.routes = routes
        self.is_ready = is_ready
        """The proxy's model-ready probe: a variant gets traffic only once it answers ready."""
        self.allowed_origins = allowed_origins
        """Where a rollout may route besides the configured upstreams (``admission``)."""
        self.state_file = state_file
        self.readonly = readonly
        self.metrics = RolloutMetrics(registry)
        self.mirror = ShadowMirror(self.metrics, timeout_s)
        self._lock = asyncio.Lock()
        self._follower: asyncio.Task[None] | None = None
        self._source_text: str | None = None
        self.rollouts: dict[str, Rollout] = {}
        if readonly and state_file is not None:
            self.reload(state_file)  # never raises: a bad file must not keep the gateway down
        else:
            self.rollouts = self._load(read_rollouts(state_file) if state_file else {})

    def _load(self, saved: dict[str, Rollout]) -> dict[str, Rollout]:
        """Saved rollouts whose configured stable is still the one they took over from."""
        kept = {}
        for model, rollout in saved.items():
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

    # --- read-only: follow the file --------------------------------------------------

    def follow(self, interval_s: float) -> None:
        """Re-read ``state_file`` every ``interval_s`` in the background (read-only mode only)."""
        if self.readonly and self.state_file is not None and self._follower is None:
            self._follower = asyncio.create_task(self._follow(self.state_file, interval_s))

    async def _follow(self, path: Path, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.reload(path)

    def reload(self, path: Path) -> None:
        """Apply the file if it changed; a bad file is logged and the last good split kept."""
        try:
            text = path.read_text()
        except OSError as exc:
            if self._source_text is not None or not isinstance(exc, FileNotFoundError):
                event(log, "rollouts_source_unreadable", logging.ERROR, path=str(path), error=str(exc))
            return
        if text == self._source_text:
            return
        self._source_text = text
        try:
            saved = parse_rollouts(text, str(path))
        except DataError as exc:
            event(log, "rollouts_source_invalid", logging.ERROR, path=str(path), error=exc.message)
            return
        loaded = self._load(saved)
        for model in set(self.rollouts) - set(loaded):
            self._unpublish(model)
        self.rollouts = loaded
        event(log, "rollouts_reloaded", models=sorted(loaded))

    def _upstream(self, model: str, variant: Variant) -> Upstream:
        """The routed upstream a variant names (with its replicas), else the variant alone."""
        for upstream in self.routes.upstreams(model):
            if (upstream.url, upstream.version) == (variant.url, variant.version):
                return upstream
        return Upstream(url=variant.url, version=variant.version)

    def _configured_stable(self, model: str) -> Variant | None:
        return _variant(self.routes.upstreams(model)[0]) if model in self.routes.models else None

    # --- per request -----------------------------------------------------------------

    def choose(self, model: str, version: str | None, headers: Mapping[str, str], request_id: str) -> Choice:
        """The variant answering this request (a version pin always wins; ``headers``: the
        request's, whose routing key decides the canary split)."""
        rollout = self.rollouts.get(model)
        if rollout is None:
            return Choice(self.routes.choose(model, version), "pinned" if version else "stable")
        if version is not None:
            for variant in (rollout.stable, rollout.canary, rollout.previous):
                if variant is not None and variant.version == version:
                    return Choice(self._upstream(model, variant), "pinned")
            return Choice(self.routes.choose(model, version), "pinned")
        stable = self._upstream(model, rollout.stable)
        if rollout.canary is None or not rollout.percent:
            return Choice(stable, "stable")
        chosen = takes_canary(model, routing_key(headers, request_id), rollout.percent)
        if rollout.mode == "shadow":
            return Choice(stable, "stable", self._upstream(model, rollout.canary) if chosen else None)
        return Choice(self._upstream(model, rollout.canary), "canary") if chosen else Choice(stable, "stable")

    def after_response(
        self,
        choice: Choice,
        model: str,
        path: str,
        request_headers: Mapping[str, str],
        body: bytes | None,
        response: Response,
    ) -> None:
        """Send the shadow copy of a successful request (never delays ``response``)."""
        if choice.shadow is None or body is None or response.status_code != 200:
            return
        headers = {name: request_headers[name] for name in _MIRRORED_HEADERS if name in request_headers}
        headers.setdefault("content-type", "application/json")
        self.mirror.send(
            model, choice.shadow.version, choice.shadow.url + path, headers, body, bytes(response.body)
        )

    # --- changes ---------------------------------------------------------------------

    async def apply(self, model: str, spec: RolloutSpec) -> Rollout:
        if self.readonly:
            raise GatewayError(409, READ_ONLY)
        configured = self._configured_stable(model)
        if configured is None:
            raise GatewayError(404, f"unknown model {model!r}; known models: {', '.join(self.routes.models)}")
        known = known_variants(self.routes.upstreams(model), self.rollouts.get(model))

        async def variant_ready(variant: Variant) -> bool:
            return await self.is_ready(model, self._upstream(model, variant))

        await admit(model, spec, known, self.allowed_origins, variant_ready)
        async with self._lock:
            try:
                rollout = apply_spec(model, self.rollouts.get(model), spec, configured)
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
        if self.readonly:
            raise GatewayError(409, READ_ONLY)
        async with self._lock:
            if model not in self.rollouts:
                raise GatewayError(404, f"no rollout for model {model!r}")
            self._save({name: r for name, r in self.rollouts.items() if name != model})
            del self.rollouts[model]
        self._unpublish(model)
        event(log, "rollout_removed", model=model)

    def _save(self, rollouts: dict[str, Rollout]) -> None:
        if self.state_file is not None:
            write_rollouts(self.state_file, rollouts)

    def _publish(self, rollout: Rollout) -> None:
        for mode in ("canary", "shadow"):
            self.metrics.percent.labels(rollout.model, mode).set(
                rollout.percent if mode == rollout.mode else 0
            )
        self.metrics.updated_at.labels(rollout.model).set(rollout.updated_at)

    def _unpublish(self, model: str) -> None:
        for mode in ("canary", "shadow"):
            self.metrics.percent.labels(model, mode).set(0)
        self.metrics.updated_at.labels(model).set(0)

    async def aclose(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        await self.mirror.aclose()
