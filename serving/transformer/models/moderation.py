"""moderation: text or raw email -> harm scores on Triton -> allow / review / block.

Normalisation and featurisation are training's own functions (``training.moderation.preprocess``),
configured by the version's preprocessing.json, so serving cannot drift from training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from kserve.protocol.infer_type import InferRequest, InferResponse

from modelyard.errors import DataError
from modelyard.models import MODERATION
from serving.transformer.base import Transformer
from serving.transformer.codecs import moderation as codec
from training.moderation.preprocess import FeaturizerConfig, featurize, normalize_email


@dataclass(frozen=True)
class Moderated:
    texts: list[str]
    """The normalised texts the featurizer saw (what the payload log keeps)."""
    decisions: list[codec.Decision]
    scores: np.ndarray
    """float32 [texts, heads]: the heads' scores (what the payload log keeps)."""


class ModerationTransformer(Transformer[codec.ModerationRequest, Moderated]):
    def prepare(self) -> None:
        self.triton_model = self.state.require_triton_model(MODERATION.triton_models[0])
        self.featurizer = FeaturizerConfig(**self.state.preprocessing["featurizer"])
        self.heads: list[str] = list(self.state.preprocessing["heads"])
        if self.state.thresholds is None:
            raise DataError(
                f"moderation v{self.state.version} has no thresholds.json",
                hint="decisions need the thresholds chosen at training time: re-export the version",
            )
        try:
            self.thresholds = codec.read_thresholds(self.state.thresholds, self.heads)
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"moderation v{self.state.version}: bad thresholds.json: {error}") from error

    def parse_v1(self, body: Any) -> codec.ModerationRequest:
        return codec.parse_v1(body)

    def parse_v2(self, request: InferRequest) -> codec.ModerationRequest:
        return codec.parse_v2(request)

    def batch_size(self, request: codec.ModerationRequest) -> int:
        return len(request.texts)

    async def run(self, request: codec.ModerationRequest, request_id: str) -> Moderated:
        texts = [normalize_email(text, self.featurizer.max_chars) for text in request.texts]
        tokens = featurize(texts, self.featurizer)
        outputs = await self.triton(self.triton_model, {"tokens": tokens}, request_id)
        scores = np.asarray(outputs["scores"], dtype=np.float64).reshape(len(tokens), len(self.heads))
        decisions = [
            codec.decide(
                {head: float(row[h]) for h, head in enumerate(self.heads)}, self.thresholds, len(text.split())
            )
            for row, text in zip(scores, texts, strict=True)
        ]
        return Moderated(texts, decisions, scores.astype(np.float32))

    def encode_v1(self, request: codec.ModerationRequest, result: Moderated) -> list[Any]:
        return codec.encode_v1(result.decisions)

    def encode_v2(
        self, request: codec.ModerationRequest, result: Moderated, request_id: str
    ) -> InferResponse:
        return codec.encode_v2(result.decisions, self.heads, self.state.model, self.state.version, request_id)

    def payload_columns(self, request: codec.ModerationRequest, result: Moderated) -> dict[str, Any]:
        return {
            "text": result.texts,
            "scores": result.scores,
            "decision": [decision.decision for decision in result.decisions],
        }

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "decision", "datatype": "BYTES", "shape": [-1]},
            {"name": "reason", "datatype": "BYTES", "shape": [-1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, len(self.heads)]},
        ]
