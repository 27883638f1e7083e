"""Which upstream answers a request for a model.

Unpinned requests go to the model's first upstream (the stable one); a version pin picks
the upstream serving that version. A canary rollout changes ``choose`` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import Upstream
from .errors import GatewayError


class RouteTable:
    """The routed models and their upstreams, in config order."""

    def __init__(self, routes: Mapping[str, list[Upstream]]) -> None:
        self._routes = {model: tuple(upstreams) for model, upstreams in routes.items()}

    @property
    def models(self) -> list[str]:
        return sorted(self._routes)

    def upstreams(self, model: str) -> tuple[Upstream, ...]:
        """All upstreams of a known model (404 naming the known models otherwise)."""
        try:
            return self._routes[model]
        except KeyError:
            known = ", ".join(self.models)
            raise GatewayError(404, f"unknown model {model!r}; known models: {known}") from None

    def choose(self, model: str, version: str | None = None) -> Upstream:
        """The upstream for this request: the pinned version, else the stable one."""
        upstreams = self.upstreams(model)
        if version is None:
            return upstreams[0]
        for upstream in upstreams:
            if upstream.version == version:
                return upstream
        available = ", ".join(u.version for u in upstreams)
        raise GatewayError(
            404, f"model {model!r} has no version {version!r}; available versions: {available}"
        )

    def all_upstreams(self) -> list[tuple[str, Upstream]]:
        """Every (model, upstream) pair, for readiness checks."""
        return [(model, upstream) for model in self.models for upstream in self._routes[model]]
