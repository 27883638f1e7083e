"""Rollouts inside the gateway: sticky canary split, shadow mirroring, the admin API.

``GatewayRollouts`` is the one object the gateway app holds; the pure parts (state file,
split, comparison) live in ``modelyard.rollout``.
"""

from .gateway import Choice, GatewayRollouts

__all__ = ["Choice", "GatewayRollouts"]
