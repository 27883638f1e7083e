"""The three transformers, by registered model name."""

from serving.transformer.base import Transformer
from serving.transformer.models.moderation import ModerationTransformer
from serving.transformer.models.ranking import RankingTransformer
from serving.transformer.models.visual_search import VisualSearchTransformer

TRANSFORMERS: dict[str, type[Transformer]] = {
    "visual-search": VisualSearchTransformer,
    "moderation": ModerationTransformer,
    "ranking": RankingTransformer,
}

__all__ = ["TRANSFORMERS", "ModerationTransformer", "RankingTransformer", "VisualSearchTransformer"]
