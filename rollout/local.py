"""The local target's pieces: the ``yard serve`` gateway's admin API holds the split and
candidates run as child processes beside the stack (``yard rollout`` and ``yard retrain``)."""

from __future__ import annotations

from modelyard.settings import Settings
from rollout.admin_client import GatewayAdmin
from rollout.driver import Rollouts
from rollout.lifecycle import open_registry
from serving.stack.candidates import LocalCandidates
from serving.stack.client import read_admin_key
from serving.stack.state import read_state, state_path


def gateway_url(settings: Settings, gateway: str | None) -> str:
    """``gateway`` if given, else the running stack's (stack.json), else the configured port."""
    if gateway:
        return gateway
    if state_path(settings).is_file():
        return read_state(settings).gateway_url
    return f"http://{settings.host}:{settings.gateway_port}"


def local_admin(settings: Settings, gateway: str | None) -> GatewayAdmin:
    return GatewayAdmin(gateway_url(settings, gateway), read_admin_key(settings, required=False))


def local_rollouts(settings: Settings, gateway: str | None) -> Rollouts:
    """The driver on the local stack; the registry is opened first, so an unreachable MLflow
    stops the command before anything moves."""
    registry = open_registry(settings)
    return Rollouts(settings, local_admin(settings, gateway), registry, LocalCandidates(settings))
