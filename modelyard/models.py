"""The models the platform trains, versions, indexes and serves: one list every floor reads.

Training registers a version under ``name`` holding exactly ``triton_models``; serving loads
those Triton models and answers under ``name``; a model that ``searches`` has a Qdrant collection:
embeddings index the vectors of its ``encoder`` Triton model, or the item vectors its versions
carry (``modelyard.artifact.layout.ITEM_VECTORS_FILE``).
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
    """The Triton model whose vectors are indexed for search; None: none of them embeds the catalogue."""
    item_vectors: bool = False
    """Versions carry their catalogue's vectors as a file, which is indexed for search."""

    @property
    def searches(self) -> bool:
        return self.encoder is not None or self.item_vectors


VISUAL_SEARCH = ModelSpec(
    "visual-search",
    "image embeddings + nearest-neighbour search",
    ("visual-search-encoder",),
    "visual-search-encoder",
)
MODERATION = ModelSpec("moderation", "spam / harmful content classifier", ("moderation",))
RANKING = ModelSpec(
    "ranking",
    "EASE history retrieval, click-model ranking, re-ranking",
    ("ranking-ctr",),
    item_vectors=True,
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (VISUAL_SEARCH, MODERATION, RANKING)}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
