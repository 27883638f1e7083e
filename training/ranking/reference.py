"""What serving would answer the validation users: the reference side of ranking's drift signals.

Serving's path, with an exact scan where serving asks Qdrant (its ranking index is an exact scan
too): the ``RETRIEVE_K`` catalogue items nearest to the user's history vector (cosine against the
version's item vectors, ``training.ranking.retrieval``) the user has not rated, re-scored by the
click model, then serving's diversity re-ranker (``training.ranking.rerank``) picks ``n``. The
re-ranker belongs here: its genre cap swaps popular items for less popular ones often enough that
a profile without it made in-distribution traffic drift on ``mean_item_popularity``.
"""

from __future__ import annotations

import numpy as np
import torch

from training.base import TaskData
from training.ranking.features import FeatureSpec, ctr_feature_ids, split_genres
from training.ranking.history import histories_from_log
from training.ranking.lookups import ITEMS
from training.ranking.model import RankingModel
from training.ranking.rerank import Scored, rerank
from training.ranking.retrieval import unseen_scores, user_vector

RETRIEVE_K = 100
"""Candidates per user, as serving fetches them."""
ANSWER_N = 10
"""Items per answer: serving's default ``n``."""


@torch.no_grad()
def served_answers(
    model: RankingModel, data: TaskData, item_vectors: np.ndarray
) -> tuple[np.ndarray, list[list[int]], list[list[float]]]:
    """(users, item ids, click probabilities) of one answer per validation user, asked at that
    user's first validation timestamp."""
    model.eval()
    spec = FeatureSpec.from_json(data.meta["feature_spec"])
    users, first = np.unique(data.val["user_id"], return_index=True)
    times = data.val["timestamp"][first]
    parts = (data.train, data.val, data.test)
    log = [np.concatenate([part[c] for part in parts]) for c in ("user_id", "item_id", "rating", "timestamp")]
    histories = histories_from_log(spec, *log)
    catalogue = np.array(data.meta["catalogue"])
    device = next(model.parameters()).device
    rated: dict[int, list[int]] = {}
    for user, item in zip(log[0].tolist(), log[1].tolist(), strict=True):
        rated.setdefault(user, []).append(item)
    queries = np.stack([user_vector(catalogue, rated.get(user, ())) for user in users.tolist()])
    similarity = torch.from_numpy(unseen_scores(queries, item_vectors))
    candidates = catalogue[similarity.topk(RETRIEVE_K, dim=1).indices.numpy()]
    features = ctr_feature_ids(
        spec,
        np.repeat(users, RETRIEVE_K).tolist(),
        candidates.reshape(-1).tolist(),
        np.repeat(times, RETRIEVE_K).tolist(),
        histories,
    )
    scores = torch.sigmoid(model.ranker(torch.from_numpy(features).to(device))).cpu().numpy()
    scores = scores.reshape(len(users), RETRIEVE_K)
    genres = {int(item): tuple(split_genres(names)) for item, names in data.meta[ITEMS]["genres"].items()}
    answers = [
        rerank(
            [Scored(int(i), float(s), genres.get(int(i), ())) for i, s in zip(row, row_scores, strict=True)],
            ANSWER_N,
        )
        for row, row_scores in zip(candidates.tolist(), scores.tolist(), strict=True)
    ]
    return users, [[it.item_id for it in a] for a in answers], [[it.score for it in a] for a in answers]
