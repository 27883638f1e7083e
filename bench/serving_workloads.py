"""The serving benchmark's questions: per workload, a pool of KServe V1 bodies (the load generator
cycles through them) and, for each body, the bare TorchScript calls answering it makes (the floor).

Bodies come from the datasets, as ``yard demo`` asks them: Fashion-MNIST test images (PNG), SpamAssassin
emails, MovieLens users the version has seen, with 100 given candidates or retrieved from their history.
The floor's inputs are built by the transformers' own featurisers, in the shapes one request sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.load import Request
from modelyard.models import MODERATION, VISUAL_SEARCH
from modelyard.settings import Settings
from serving.transformer.version import VersionState

POOL = 32
"""Distinct bodies per workload: enough to defeat any per-input caching, few enough to build fast."""
CANDIDATES = 100
"""Explicit candidates per ranking request (the issue's target)."""
TOP_K = 10
TIMESTAMP = 893_286_638
"""A request time inside MovieLens-100k's period (1998-04)."""
SEED = 0

TritonCall = tuple[str, dict[str, np.ndarray]]
"""(Triton model, named inputs): one predictor call."""


@dataclass(frozen=True)
class Workload:
    """One kind of request to one model."""

    name: str
    model: str
    label: str
    bodies: list[dict[str, Any]]
    floor_calls: list[list[TritonCall]]
    """Per body: the predictor calls its answer needs, in order."""

    def request(self, index: int) -> Request:
        return Request("POST", f"/v1/models/{self.model}:predict", json=self.bodies[index % len(self.bodies)])


def visual_search(state: VersionState, settings: Settings) -> Workload:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from modelyard.data import load
    from modelyard.data.fashion_mnist import png
    from yard.query import visual_search_body

    images = load("fashion-mnist", settings).test_images[:POOL]
    encoder = state.require_triton_model(VISUAL_SEARCH.encoder)
    input_name = state.preprocessing.get("input", "image")
    return Workload(
        "visual-search",
        "visual-search",
        f"visual-search: one 28x28 PNG, k={TOP_K}",
        [visual_search_body(png(image), k=TOP_K) for image in images],
        [[(encoder, {input_name: (image / 255.0).astype(np.float32)[None, None]})] for image in images],
    )


def moderation(state: VersionState, settings: Settings) -> Workload:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from modelyard.data import load
    from serving.transformer.codecs.moderation import MAX_TEXT_BYTES
    from training.moderation.preprocess import FeaturizerConfig, featurize, normalize_email
    from yard.query import moderation_body

    emails = load("spamassassin", settings).frame
    servable = emails[emails["text"].map(lambda text: len(text.encode()) <= MAX_TEXT_BYTES)]
    texts = servable.sample(POOL, random_state=SEED)["text"].tolist()
    featurizer = FeaturizerConfig(**state.preprocessing["featurizer"])
    model = state.require_triton_model(MODERATION.triton_models[0])
    return Workload(
        "moderation",
        "moderation",
        "moderation: one email",
        [moderation_body(text) for text in texts],
        [[(model, {"tokens": featurize([normalize_email(text)], featurizer)})] for text in texts],
    )


def ranking_candidates(state: VersionState, settings: Settings) -> Workload:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from serving.transformer.models.ranking import CTR
    from training.ranking.features import ctr_feature_ids

    spec, histories = _spec_and_histories(state)
    rng = np.random.default_rng(SEED)
    users = _seen_users(state, rng)
    items = np.array(sorted(int(item) for item in spec.item_rows))
    candidates = [rng.choice(items, CANDIDATES, replace=False).tolist() for _ in users]
    return Workload(
        "ranking-candidates",
        "ranking",
        f"ranking: {CANDIDATES} given candidates",
        [
            {"user_id": user, "candidates": row, "n": TOP_K, "context": {"timestamp": TIMESTAMP}}
            for user, row in zip(users, candidates, strict=True)
        ],
        [
            [
                (
                    CTR,
                    {
                        "features": ctr_feature_ids(
                            spec, [user] * len(row), row, [TIMESTAMP] * len(row), histories
                        )
                    },
                )
            ]
            for user, row in zip(users, candidates, strict=True)
        ],
    )


def ranking_retrieval(state: VersionState, settings: Settings) -> Workload:
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from serving.transformer.models.ranking import CTR, RETRIEVE_K
    from training.ranking.features import ctr_feature_ids

    spec, histories = _spec_and_histories(state)
    users = _seen_users(state, np.random.default_rng(SEED))
    retrieved = spec.popular_items[:RETRIEVE_K]  # stands in for the neighbours: same shapes
    return Workload(
        "ranking-retrieval",
        "ranking",
        f"ranking: retrieval (history vector, top {RETRIEVE_K} in Qdrant, click model)",
        [{"user_id": user, "n": TOP_K, "context": {"timestamp": TIMESTAMP}} for user in users],
        [
            [
                (
                    CTR,
                    {
                        "features": ctr_feature_ids(
                            spec, [user] * len(retrieved), retrieved, [TIMESTAMP] * len(retrieved), histories
                        )
                    },
                ),
            ]
            for user in users
        ],
    )


def _spec_and_histories(state: VersionState) -> tuple[Any, dict[int, Any]]:
    """The version's FeatureSpec and parsed rating histories (what the transformer featurises with)."""
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from training.ranking.features import FeatureSpec
    from training.ranking.history import parse_history_table

    spec = FeatureSpec.from_json(state.preprocessing["feature_spec"])
    return spec, parse_history_table(spec, state.preprocessing["history"])


def _seen_users(state: VersionState, rng: np.random.Generator) -> list[int]:
    """Users with a history in the version (so the ranking is personal, not cold start)."""
    users = sorted(int(user) for user in state.preprocessing["seen"])
    return [int(user) for user in rng.choice(users, min(POOL, len(users)), replace=False)]


BUILDERS: dict[str, list[Callable[[VersionState, Settings], Workload]]] = {
    "visual-search": [visual_search],
    "moderation": [moderation],
    "ranking": [ranking_candidates, ranking_retrieval],
}
"""Served model -> its workloads' builders, in report order."""
