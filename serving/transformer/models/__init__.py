"""The three transformers, by registered model name."""

from modelyard.models import MODERATION, RANKING, VISUAL_SEARCH
from serving.transformer.base import Transformer
from serving.transformer.models.moderation import ModerationTransformer
from serving.transformer.models.ranking import RankingTransformer
from serving.transformer.models.visual_search import VisualSearchTransformer

TRANSFORMERS: dict[str, type[Transformer]] = {
    VISUAL_SEARCH.name: VisualSearchTransformer,
    MODERATION.name: ModerationTransformer,
    RANKING.name: RankingTransformer,
}

__all__ = ["TRANSFORMERS", "ModerationTransformer", "RankingTransformer", "VisualSearchTransformer"]
