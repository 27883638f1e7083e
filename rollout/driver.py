"""``yard rollout``: one driver for both targets (the local gateway and Kubernetes).

Where the split lives (``RolloutBackend``: the gateway's admin API, or the rollouts ConfigMap
the in-cluster gateways follow) and where a candidate runs (``CandidateHost``: a child process
beside ``yard serve``, or a second InferenceService) are injected; the order of the steps is
the same everywhere, and it matters for what a failure leaves behind: the registry is opened
before anything moves, a candidate must be ready before it gets traffic, and on promote the
registry and index move before the split does (the old stable stays routable as ``previous``).
"""

from __future__ import annotations

import logging
from typing import Protocol

from modelyard.errors import NotFoundError, UsageError
from modelyard.logs import event
from modelyard.registry import Registry, ResolvedVersion
from modelyard.settings import Settings
from rollout.lifecycle import promote_in_registry, switch_embeddings
from serving.gateway.rollout.figures import Snapshot
from serving.gateway.rollout.state import Mode, Rollout, RolloutSpec, Variant

log = logging.getLogger(__name__)


class RolloutBackend(Protocol):
    """Where a model's split is kept and applied."""

    def view(self, model: str) -> tuple[list[Variant], Rollout | None]:
        """The model's configured upstreams and its rollout (None: no rollout)."""

    def put(self, model: str, spec: RolloutSpec) -> Rollout:
        """Apply ``spec``; returns once the routing layer applies it."""

    def snapshot(self) -> Snapshot:
        """Per-variant counters of every gateway, summed."""


class CandidateHost(Protocol):
    """Where candidate versions run."""

    def launch(self, model: str, version: int, keep: list[int]) -> str:
        """Serve ``version`` beside the routed versions ``keep``; returns its transformer URL."""

    def wait_ready(self, model: str, version: int, url: str, timeout_s: float) -> None:
        """Block until the candidate is ready, or UnavailableError (no traffic was moved)."""

    def retire(self, model: str, version: int, keep: list[int]) -> object:
        """Stop a version that has no traffic left (``keep``: the versions still routed)."""


def routed_versions(rollout: Rollout) -> list[int]:
    """Versions the gateway can send traffic to (what must keep running)."""
    variants = (rollout.stable, rollout.previous, rollout.canary)
    return [int(v.version) for v in variants if v is not None]


class Rollouts:
    def __init__(
        self, settings: Settings, backend: RolloutBackend, registry: Registry, host: CandidateHost
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.registry = registry
        self.host = host

    def current(self, model: str) -> Rollout:
        _, rollout = self.backend.view(model)
        if rollout is None:
            raise NotFoundError(f"{model} has no rollout", hint=f"start one: yard rollout start {model} ...")
        return rollout

    def start(
        self,
        model: str,
        candidate: ResolvedVersion,
        percent: int,
        mode: Mode,
        ready_timeout_s: float,
        url: str | None = None,
    ) -> Rollout:
        """Launch the candidate (unless ``url`` already serves it), wait until ready, then split."""
        configured, current = self.backend.view(model)
        stable = current.stable if current else configured[0]
        if stable.version == str(candidate.version):
            raise UsageError(
                f"{model} version {candidate.version} is already the stable version", hint="pick another"
            )
        if url is None:
            keep = routed_versions(current) if current else [int(stable.version)]
            url = self.host.launch(model, candidate.version, keep)
        self.host.wait_ready(model, candidate.version, url, ready_timeout_s)
        canary = Variant(version=str(candidate.version), url=url)
        reason = f"started {mode} of version {candidate.version} at {percent}%"
        return self.backend.put(
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
        return self.backend.put(model, spec)

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
        rollout = self.backend.put(model, spec)
        event(log, "rollout_promoted", model=model, version=version, aliases=aliases, embeddings=embeddings)
        return rollout, aliases, embeddings

    def rollback(self, model: str, reason: str) -> Rollout:
        """Running canary: all traffic back to stable. After a promote: the previous champion returns."""
        current = self.current(model)
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
        rollout = self.backend.put(model, spec)
        self.host.retire(model, int(dropped.version), routed_versions(rollout))
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
        return self.backend.snapshot()

    def _running(self, model: str) -> Rollout:
        current = self.current(model)
        if current.canary is None:
            raise UsageError(
                f"{model} has no canary running (phase {current.phase})", hint="yard rollout start"
            )
        return current
