"""ranking: user -> candidates (history vector + Qdrant, or given) -> CTR on Triton -> re-ranked top-n.

Retrieval searches the version's item vectors (``yard index`` put them in Qdrant) with the user's
history vector, built here from the user's items in the version (``training.ranking.retrieval``).
Featurisation is training's (``training.ranking.features``, ``training.ranking.history``) over the
version's FeatureSpec and rating history (only what came before the request's timestamp counts);
titles, genres and each user's seen items are the version's own tables (``training.ranking.lookups``).
All of it comes from preprocessing.json: a deployed version needs no data catalog.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse

from modelyard.artifact.layout import ITEM_VECTORS_FILE
from modelyard.errors import DataError
from modelyard.models import RANKING
from serving.transformer.base import Transformer
from serving.transformer.codecs import ranking as codec
from serving.transformer.models.search import VersionIndex
from training.ranking.features import FeatureSpec, ctr_feature_ids
from training.ranking.history import parse_history_table
from training.ranking.lookups import HISTORY, Lookups, missing_keys
from training.ranking.rerank import Scored, rerank
from training.ranking.retrieval import user_vector

(CTR,) = RANKING.triton_models
"""The click model (retrieval searches the version's item vectors in Qdrant, not a Triton model)."""
RETRIEVE_K = 100
"""Candidates retrieval fetches per user before the click model re-scores them."""


class RankingTransformer(Transformer[list[codec.RankingQuery], list[codec.Ranking]]):
    def prepare(self) -> None:
        self.state.require_triton_model(CTR)
        missing = missing_keys(self.state.preprocessing)
        if missing:
            raise DataError(
                f"{self.state.model} v{self.state.version} carries no {', '.join(missing)} in its "
                "preprocessing.json (it was trained before versions carried their item and history tables)",
                hint=f"retrain it: yard train {self.state.model}, then serve the new version",
            )
        if not (self.state.artifact_dir / ITEM_VECTORS_FILE).is_file():
            raise DataError(
                f"{self.state.model} v{self.state.version} carries no {ITEM_VECTORS_FILE} (it was "
                "trained when retrieval searched the towers' vectors; its index does not match this "
                "transformer's history vectors)",
                hint=f"retrain it: yard train {self.state.model}, yard index {self.state.model}, serve",
            )
        self.spec = FeatureSpec.from_json(self.state.preprocessing["feature_spec"])
        self.lookups = Lookups.from_preprocessing(self.state.preprocessing)
        self.histories = parse_history_table(self.spec, self.state.preprocessing[HISTORY])
        self.catalogue = np.asarray(self.state.preprocessing["catalogue"], dtype=np.int64)
        self.index = VersionIndex(self.settings, self.state.model, self.state.version)
        self.index.probe()

    def parse_v1(self, body: Any) -> list[codec.RankingQuery]:
        return codec.parse_v1(body)

    def parse_v2(self, request: InferRequest) -> list[codec.RankingQuery]:
        return codec.parse_v2(request)

    def batch_size(self, request: list[codec.RankingQuery]) -> int:
        return len(request)

    def is_known(self, user_id: int) -> bool:
        return str(user_id) in self.spec.user_rows

    async def run(self, request: list[codec.RankingQuery], request_id: str) -> list[codec.Ranking]:
        for query in request:
            unknown = [item for item in query.candidates or () if str(item) not in self.spec.item_rows]
            if unknown:
                raise InvalidInput(f"candidates {unknown[:10]} are not items of this model's catalogue")
        candidates = await self._candidates(request)
        scores = await self._click_scores(request, candidates, request_id)
        return [
            self._final(query, items, item_scores)
            for query, items, item_scores in zip(request, candidates, scores, strict=True)
        ]

    async def _candidates(self, request: list[codec.RankingQuery]) -> list[list[int]]:
        """Given candidates as is; users with a history: nearest items to their history vector,
        minus that history; else popular items."""
        searches = {
            q.user_id: self.index.search(
                user_vector(self.catalogue, self.lookups.seen[q.user_id]),
                RETRIEVE_K,
                exclude_ids=sorted(self.lookups.seen[q.user_id]),
            )
            for q in request
            if q.candidates is None and self.has_history(q.user_id)
        }
        found = await asyncio.gather(*searches.values())
        neighbours = {user: [hit.id for hit in hits] for user, hits in zip(searches, found, strict=True)}
        popular = [int(i) for i in self.spec.popular_items[:RETRIEVE_K]]
        return [
            q.candidates if q.candidates is not None else neighbours.get(q.user_id, popular) for q in request
        ]

    def has_history(self, user_id: int) -> bool:
        return bool(self.lookups.seen.get(user_id))

    async def _click_scores(
        self, request: list[codec.RankingQuery], candidates: list[list[int]], request_id: str
    ) -> list[np.ndarray]:
        """One batched CTR call for every (query, candidate) pair of the request."""
        users = [q.user_id for q, items in zip(request, candidates, strict=True) for _ in items]
        items = [item for row in candidates for item in row]
        times = [q.timestamp for q, row in zip(request, candidates, strict=True) for _ in row]
        if not items:
            return [np.empty(0, dtype=np.float32) for _ in request]
        features = ctr_feature_ids(self.spec, users, items, times, self.histories)
        probability = (await self.triton(CTR, {"features": features}, request_id))["probability"].reshape(-1)
        bounds = np.cumsum([len(row) for row in candidates])[:-1]
        return np.split(probability, bounds)

    def _final(self, query: codec.RankingQuery, items: list[int], scores: np.ndarray) -> codec.Ranking:
        cold = not self.is_known(query.user_id)
        retrieved = "history" if self.has_history(query.user_id) else "popular"
        seen = () if query.candidates is not None else self.lookups.seen.get(query.user_id, frozenset())
        genres = self.lookups.genres
        scored = [Scored(item, float(s), genres.get(item, ())) for item, s in zip(items, scores, strict=True)]
        ranked = rerank(scored, query.n, seen=seen)
        return codec.Ranking(
            [
                codec.RankedItem(
                    it.item_id, self.lookups.titles.get(it.item_id, ""), it.score, list(it.genres)
                )
                for it in ranked
            ],
            cold_start=cold,
            retrieval="given" if query.candidates is not None else retrieved,
        )

    def encode_v1(self, request: list[codec.RankingQuery], result: list[codec.Ranking]) -> list[Any]:
        return [codec.ranking_json(ranking) for ranking in result]

    def encode_v2(
        self, request: list[codec.RankingQuery], result: list[codec.Ranking], request_id: str
    ) -> InferResponse:
        n = max(query.n for query in request)
        return codec.encode_v2(result, n, self.state.model, self.state.version, request_id)

    def payload_columns(
        self, request: list[codec.RankingQuery], result: list[codec.Ranking]
    ) -> dict[str, Any]:
        return {
            "user": [query.user_id for query in request],
            "items": [[item.item_id for item in ranking.items] for ranking in result],
            "scores": [[item.score for item in ranking.items] for ranking in result],
            "timestamp": [query.timestamp for query in request],
        }

    def get_input_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "user_id", "datatype": "INT64", "shape": [-1]},
            {"name": "timestamp", "datatype": "INT64", "shape": [-1]},
            {"name": "candidates", "datatype": "INT64", "shape": [-1, -1]},
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "item_ids", "datatype": "INT64", "shape": [-1, -1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
            {"name": "cold_start", "datatype": "BOOL", "shape": [-1]},
        ]
