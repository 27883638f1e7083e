"""The models the platform trains, versions, indexes and serves: one list every floor reads.

Training registers a version under ``name`` holding exactly ``triton_models``; serving loads
those Triton models and answers under ``name``; a model with an ``encoder`` searches, so
embeddings index the vectors of that Triton model into the model's Qdrant collection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    """Registered model name, route (``/v2/models/<name>/infer``) and Qdrant alias."""
    task: str
    """What it does, in a few words (shown by the CLI and docs)."""
    triton_models: tuple[str, ...]
    """The Triton models a version ships (folders of its ``model_repository``)."""
    encoder: str | None = None
    """The Triton model whose vectors are indexed for search; None: the model does not search."""

    @property
    def searches(self) -> bool:
        return self.encoder is not None


VISUAL_SEARCH = ModelSpec(
    "visual-search",
    "image embeddings + nearest-neighbour search",
    ("visual-search-encoder",),
    "visual-search-encoder",
)
MODERATION = ModelSpec("moderation", "spam / harmful content classifier", ("moderation",))
RANKING = ModelSpec(
    "ranking",
    "two-tower retrieval, click-model ranking, re-ranking",
    ("ranking-user-tower", "ranking-item-tower", "ranking-ctr"),
    "ranking-item-tower",
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (VISUAL_SEARCH, MODERATION, RANKING)}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
