"""``yard rollout`` on the local stack: the gateway's split, MLflow aliases, the Qdrant alias.

Order matters for what a failure leaves behind: the registry is opened before anything
moves, a candidate must answer ready before it gets traffic, and on promote the registry
and index move before the gateway does (the old stable stays routable as ``previous``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from modelyard.errors import UnavailableError, UsageError
from modelyard.logs import event
from modelyard.registry import Registry, ResolvedVersion
from modelyard.rollout.admin_client import GatewayAdmin
from modelyard.rollout.lifecycle import promote_in_registry, switch_embeddings
from modelyard.rollout.scrape import Snapshot
from modelyard.rollout.state import Mode, Rollout, RolloutSpec, Variant
from modelyard.settings import Settings

log = logging.getLogger(__name__)

READY_POLL_S = 0.5


def wait_until_ready(url: str, model: str, timeout_s: float) -> None:
    """Block until ``url`` says ``model`` is ready (KServe V2), or UnavailableError."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/v2/models/{model}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"candidate {model} at {url} was not ready within {timeout_s:.0f} s; no traffic was moved",
                hint="read the candidate's log, or raise --ready-timeout",
            )
        time.sleep(READY_POLL_S)


def routed_versions(rollout: Rollout) -> list[int]:
    """Versions the gateway can send traffic to (what Triton must keep serving)."""
    variants = (rollout.stable, rollout.previous, rollout.canary)
    return [int(v.version) for v in variants if v is not None]


class LocalRollouts:
    def __init__(
        self,
        settings: Settings,
        admin: GatewayAdmin,
        registry: Registry,
        retire: Callable[[str, int, list[int]], object] = lambda model, version, keep: None,
    ) -> None:
        self.settings = settings
        self.admin = admin
        self.registry = registry
        self.retire = retire
        """Called with (model, version, versions still routed) once a rolled-back canary, or a
        promoted version rolled back, has no traffic left."""

    def start(
        self,
        model: str,
        candidate: ResolvedVersion,
        url: str,
        percent: int,
        mode: Mode,
        ready_timeout_s: float,
    ) -> Rollout:
        stable = self.admin.stable(model)
        if stable.version == str(candidate.version):
            raise UsageError(
                f"{model} version {candidate.version} is already the stable version", hint="pick another"
            )
        wait_until_ready(url, model, ready_timeout_s)
        canary = Variant(version=str(candidate.version), url=url)
        reason = f"started {mode} of version {candidate.version} at {percent}%"
        return self.admin.put(
            model, RolloutSpec(mode=mode, canary=canary, percent=percent, stable=stable, reason=reason)
        )

    def set_percent(self, model: str, percent: int, reason: str | None = None) -> Rollout:
        current = self._running(model)
        spec = RolloutSpec(
            mode=current.mode,
            canary=current.canary,
            percent=percent,
            stable=current.stable,
            previous=current.previous,
            reason=reason or f"set to {percent}%",
        )
        return self.admin.put(model, spec)

    def promote(self, model: str) -> tuple[Rollout, dict[str, int], str | None]:
        """The canary becomes champion everywhere; returns the rollout, aliases and index action."""
        current = self._running(model)
        assert current.canary is not None
        version = int(current.canary.version)
        aliases = promote_in_registry(self.registry, model, version)
        embeddings = switch_embeddings(self.settings, model, version)
        spec = RolloutSpec(
            stable=current.canary,
            previous=current.stable,
            phase="promoted",
            reason=f"promoted version {version}",
        )
        rollout = self.admin.put(model, spec)
        event(log, "rollout_promoted", model=model, version=version, aliases=aliases, embeddings=embeddings)
        return rollout, aliases, embeddings

    def rollback(self, model: str, reason: str) -> Rollout:
        """Running canary: all traffic back to stable. After a promote: the previous champion returns."""
        current = self.admin.rollout(model)
        if current.canary is not None:
            spec = RolloutSpec(
                stable=current.stable, previous=current.previous, phase="rolled_back", reason=reason
            )
            dropped = current.canary
        elif current.phase == "promoted" and current.previous is not None:
            self.registry.rollback(model)
            switch_embeddings(self.settings, model, int(current.previous.version))
            spec = RolloutSpec(stable=current.previous, phase="rolled_back", reason=reason)
            dropped = current.stable
        else:
            raise UsageError(
                f"{model} has nothing to roll back (phase {current.phase})", hint="yard rollout status"
            )
        rollout = self.admin.put(model, spec)
        self.retire(model, int(dropped.version), routed_versions(rollout))
        event(
            log,
            "rollout_rolled_back",
            logging.WARNING,
            model=model,
            stable=rollout.stable.version,
            reason=reason,
        )
        return rollout

    def snapshot(self) -> Snapshot:
        return self.admin.snapshot()

    def _running(self, model: str) -> Rollout:
        current = self.admin.rollout(model)
        if current.canary is None:
            raise UsageError(
                f"{model} has no canary running (phase {current.phase})", hint="yard rollout start"
            )
        return current
