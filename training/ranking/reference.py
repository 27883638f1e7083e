"""What serving would answer the validation users: the reference side of ranking's drift signals.

Serving's path without Qdrant and the re-ranker: the towers' nearest ``RETRIEVE_K`` catalogue items
the user has not rated, re-scored by the click model, the best ``n`` kept. The diversity re-ranker
only reorders and swaps a few of those, so popularity and score signals stay comparable.
"""

from __future__ import annotations

import numpy as np
import torch

from training.base import TaskData
from training.ranking.features import FeatureSpec, ctr_feature_ids, item_feature_ids, user_feature_ids
from training.ranking.history import histories_from_log
from training.ranking.model import RankingModel

RETRIEVE_K = 100
"""Candidates per user, as serving fetches them."""
ANSWER_N = 10
"""Items per answer: serving's default ``n``."""


@torch.no_grad()
def served_answers(
    model: RankingModel, data: TaskData
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
    items = model.item_tower(torch.from_numpy(item_feature_ids(spec, catalogue)).to(device))
    similarity = (
        model.user_tower(torch.from_numpy(user_feature_ids(spec, users)).to(device)) @ items.T
    ).cpu()
    position = {int(item): i for i, item in enumerate(catalogue)}
    rated: dict[int, list[int]] = {}
    for user, item in zip(log[0].tolist(), log[1].tolist(), strict=True):
        rated.setdefault(user, []).append(position[item])
    for row, user in enumerate(users.tolist()):
        similarity[row, rated.get(user, [])] = -torch.inf
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
    best = np.argsort(-scores, axis=1, kind="stable")[:, :ANSWER_N]
    answers = np.take_along_axis(candidates, best, axis=1)
    return users, answers.tolist(), np.take_along_axis(scores, best, axis=1).tolist()
