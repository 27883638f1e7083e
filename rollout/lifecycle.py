"""What a rollout changes outside the traffic split: MLflow aliases and the live Qdrant index.

Every rollout command opens the registry first (``open_registry`` probes a tracking server
in seconds), so an unreachable MLflow stops the command before anything has moved.
"""

from __future__ import annotations

import logging

from modelyard.errors import UsageError
from modelyard.logs import event
from modelyard.registry import Registry, ResolvedVersion
from modelyard.registry.policy import CHALLENGER, CHAMPION
from modelyard.settings import Settings

log = logging.getLogger(__name__)


def open_registry(settings: Settings) -> Registry:
    """The registry, or UnavailableError (with the fix) when MLflow does not answer."""
    registry = Registry(settings)
    registry.list_models()  # one real round trip: embedded sqlite can be unreadable too
    return registry


def resolve_candidate(
    registry: Registry, model: str, version: int | None, alias: str | None
) -> ResolvedVersion:
    if (version is None) == (alias is None):
        raise UsageError("give exactly one of --version and --alias", hint="e.g. --alias challenger")
    return registry.resolve(f"{model}/{version}" if version is not None else f"{model}@{alias}")


def promote_in_registry(registry: Registry, model: str, version: int) -> dict[str, int]:
    """``version`` becomes champion, the old champion previous; returns the aliases after."""
    aliases = _aliases(registry, model)
    if aliases.get(CHAMPION) == version:
        return aliases
    if aliases.get(CHALLENGER) != version:
        registry.set_alias(model, CHALLENGER, version)  # the canary was picked by number
    return registry.promote(model).after


def _aliases(registry: Registry, model: str) -> dict[str, int]:
    return {alias: v.version for v in registry.versions(model) for alias in v.aliases}


def switch_embeddings(settings: Settings, model: str, version: int) -> str | None:
    """Point the model's Qdrant alias at ``version``'s collection, indexing it when missing.

    None when the model has no collection (moderation).
    """
    # lazy: embeddings loads torch and qdrant-client (seconds); only this path needs it
    from embeddings import VectorStore
    from embeddings.sources import SOURCES

    if model not in SOURCES:
        return None
    store = VectorStore.from_settings(settings)
    if store.complete_points(model, version) is not None:
        store.switch_alias(model, version)
        action = "switched"
    else:
        # lazy: embeddings loads torch and qdrant-client (seconds); only this path needs it
        from embeddings.indexer import index_model

        index_model(settings, model, f"{model}/{version}", store)  # builds, then switches
        action = "indexed"
    event(log, "rollout_embeddings", model=model, version=version, action=action)
    return action
