"""Which rollout changes the admin API takes: where a variant may point, and that it answers.

A rollout sends client requests (and their answers) to whatever URL its variants name, so a
variant must be one the operator already deployed: a configured upstream of that model, a
variant of its current rollout, or a URL on the allow-list (``MODELYARD_ROLLOUT_ALLOWED_UPSTREAMS``,
origins such as ``http://127.0.0.1``). Anything new must also answer ready for that model before
it gets a single request, and so must the canary whenever it is to get traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

from modelyard.endpoints import allows
from serving.gateway.config import Upstream
from serving.gateway.errors import GatewayError
from serving.gateway.rollout.state import Rollout, RolloutSpec, Variant


def spec_variants(spec: RolloutSpec) -> Iterator[tuple[str, Variant]]:
    """``(role, variant)`` of every variant ``spec`` names."""
    for role in ("stable", "canary", "previous"):
        variant = getattr(spec, role)
        if variant is not None:
            yield role, variant


def known_variants(configured: tuple[Upstream, ...], current: Rollout | None) -> set[Variant]:
    """What the model routes to already: its configured upstreams and its rollout's variants."""
    known = {Variant(url=upstream.url, version=upstream.version) for upstream in configured}
    if current is not None:
        known |= {
            v for v in (current.stable, current.canary, current.previous, current.base) if v is not None
        }
    return known


async def admit(
    model: str,
    spec: RolloutSpec,
    known: set[Variant],
    allowed_origins: tuple[str, ...],
    is_ready: Callable[[Variant], Awaitable[bool]],
) -> None:
    """Return if ``spec`` may be applied; else the 400 (unknown URL) or 409 (not ready) to answer."""
    new = [(role, variant) for role, variant in spec_variants(spec) if variant not in known]
    for role, variant in new:
        if not any(allows(origin, variant.url) for origin in allowed_origins):
            allowed = ", ".join(allowed_origins) or "none"
            raise GatewayError(
                400,
                f"{role} {variant.url} (version {variant.version}) is not a configured upstream of {model} "
                f"and not on the rollout allow-list (MODELYARD_ROLLOUT_ALLOWED_UPSTREAMS: {allowed})",
            )
    probed = dict(new)
    if spec.canary is not None and spec.percent:
        probed["canary"] = spec.canary
    answers = await asyncio.gather(*(is_ready(variant) for variant in probed.values()))
    for (role, variant), ready in zip(probed.items(), answers, strict=True):
        if not ready:
            raise GatewayError(409, f"{role} {model} version {variant.version} at {variant.url} is not ready")
