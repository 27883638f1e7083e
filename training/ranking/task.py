"""Ranking task: MovieLens-100k ratings as clicks (rating >= 4), per-user time-ordered 80/10/10 split.

Serving retrieves candidates with EASE item vectors searched by the user's history vector
(``training.ranking.retrieval``), fit after training on train + validation interactions. The
candidates are re-scored by a DCN-v2 click model over user, item, context and history features,
trained with binary cross-entropy on every rated pair, together with an auxiliary task on the
same embedding table:

* two towers trained with an in-batch softmax over the batch's positive (user, item) pairs, with
  the logQ correction that removes in-batch sampling's bias against popular items (scores minus
  log of the item's share of training clicks). Only their training signal is kept: they shape
  the shared embeddings (the click model's test AUC is lower without them, docs/models.md) but
  are not exported; their recall is logged (``tower_recall_at_100``) to show the task learns.

Loss = BCE(click) + ``retrieval_weight`` * softmax CE(retrieval).

Retrained on feedback (``yard retrain ranking``), served users' clicks and skips are interactions
like the ratings (``with_feedback``), and ``recent_auc`` / ``recent_champion_auc`` compare the click
model with the serving version's scores on the newer half of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn import functional as F

from modelyard.artifact.layout import ITEM_VECTORS_FILE
from modelyard.data import load
from modelyard.errors import DataError, UsageError
from modelyard.models import RANKING
from modelyard.settings import Settings
from training.base import Evaluation, ExportedModel, TaskData, TensorSpec, TrainTask
from training.baselines import bag_of_ids
from training.feedback import RECENT, TRAIN, LabelledRows, recent_window_metrics
from training.metrics.ctr import (
    expected_calibration_error,
    log_loss,
    mean_ndcg_at_k,
    mean_recall_at_k,
    normalized_cross_entropy,
    reliability_bins,
)
from training.profile import build_profile
from training.ranking.features import (
    CONTEXT_FIELDS,
    GENRE_SLOTS,
    ITEM_FIELDS,
    USER_FIELDS,
    FeatureSpec,
    build_feature_spec,
    cold_user_feature_ids,
    context_feature_ids,
    item_feature_ids,
    user_feature_ids,
)
from training.ranking.history import (
    CLICK_RATING,
    HISTORY_GROUPS,
    HISTORY_WIDTH,
    SCALAR_FIELDS,
    UserHistory,
    histories_from_log,
    history_feature_ids,
    history_table,
)
from training.ranking.lookups import HISTORY, ITEMS, SEEN, items_table, seen_table
from training.ranking.model import ClickProbability, RankingModel
from training.ranking.neighbours import (
    co_occurrence,
    ease_weights,
    interaction_matrix,
    item_knn_weights,
    top_k_unseen,
)
from training.ranking.plots import plot_reliability
from training.ranking.reference import served_answers
from training.ranking.retrieval import item_vectors, unseen_scores, user_vector
from training.ranking.signals import popularity_context, signals

(CTR,) = RANKING.triton_models

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLITS = ("train", "val", "test")
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
FEEDBACK_RATINGS = (CLICK_RATING, CLICK_RATING - 1)
"""The ratings a click and a skip stand for: the nearest on either side of the click line (a
click says "good enough", a skip "not this one", neither says more)."""
SMOKE_EVERY = 5
"""Smoke runs keep every 5th interaction (time order and all users/items preserved)."""
RETRIEVAL_K = 100
NDCG_K = 10
CALIBRATION_BINS = 10
_BATCH = 4096
ID_BLOCKS = ("user", "item", "context")
"""The click input's id blocks before the history block (the logistic baseline's input)."""
EASE_L2 = (100.0, 300.0, 1000.0, 3000.0)
KNN_NEIGHBOURS = (20, 50, 100, 300)
"""Settings tried on validation for the EASE and item-kNN baselines."""


class RankingTask(TrainTask):
    name: ClassVar[str] = RANKING.name
    headline_metric: ClassVar[str] = "auc"
    higher_is_better: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]] = {
        "lr": 4e-3,
        "weight_decay": 0.0,
        "epochs": 5,
        "batch_size": 512,
        "embedding_dim": 16,
        "tower_hidden": 64,
        "tower_dim": 32,
        "cross_layers": 2,
        "deep": [128, 64],
        "dropout": 0.1,
        "retrieval_weight": 0.5,
        "temperature": 0.1,
        "logq_correction": True,
        "cold_user_rate": 0.3,
        "seed": 0,
    }

    def __init__(self) -> None:
        self._tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        """The data set's user and item tables per digest: ``prepare`` has them, ``with_feedback``
        rebuilds the features from them the same way, and TaskData holds arrays for Ray only."""

    def prepare(self, settings: Settings, smoke: bool) -> TaskData:
        dataset = load("movielens-100k", settings)
        interactions = dataset.interactions.sort_values(["timestamp", "user_id", "item_id"], kind="stable")
        if smoke:
            interactions = interactions.iloc[::SMOKE_EVERY]
        self._tables[dataset.digest] = (dataset.users, dataset.items)
        return self.task_data(dataset.digest, time_ordered_split(interactions.reset_index(drop=True)))

    def task_data(self, digest: str, parts: dict[str, pd.DataFrame]) -> TaskData:
        """Features of every part (``INTERACTION_COLUMNS`` frames: train, val, test and, from
        feedback, recent) from the train split's statistics and the history of every part but
        ``recent``, which is never learnt from."""
        users, items = self._tables[digest]
        train = parts["train"]
        clicks = (train["rating"] >= CLICK_RATING).to_numpy()
        spec = build_feature_spec(
            table_columns(users),
            table_columns(items.assign(release_year=items["release_year"].astype("float64"))),
            train["user_id"].to_numpy(),
            train["item_id"].to_numpy(),
            clicks,
        )
        click_share = train.loc[clicks, "item_id"].value_counts(normalize=True)
        log = pd.concat([parts[name] for name in SPLITS])
        histories = histories_from_log(spec, *(log[column].to_numpy() for column in INTERACTION_COLUMNS))
        arrays = {name: feature_columns(spec, part, click_share, histories) for name, part in parts.items()}
        meta = {
            "feature_spec": spec.to_json(),
            "user_fields": len(USER_FIELDS),
            "item_fields": len(ITEM_FIELDS),
            "genre_slots": GENRE_SLOTS,
            "context_fields": len(CONTEXT_FIELDS),
            "history_groups": [list(group) for group in HISTORY_GROUPS],
            "train_click_rate": float(clicks.mean()),
            "rows": {name: len(part) for name, part in parts.items()},
            "catalogue": sorted(int(i) for i in items["item_id"]),
            ITEMS: items_table(items["item_id"], items["title"], items["genres"]),
        }
        return TaskData(
            **{name: arrays[name] for name in SPLITS}, digest=digest, meta=meta, recent=arrays.get(RECENT)
        )

    def with_feedback(self, data: TaskData, rows: LabelledRows) -> TaskData:
        """Users' clicks and skips on served items become interactions (``FEEDBACK_RATINGS``) at
        the moment each request asked about: ``train`` rows join the train split, so the feature
        spec, the histories every later example sees and the exported history and seen tables all
        include them, as if they were ratings; ``recent`` rows are featurised the same way, never
        learnt from, and kept with the serving version's scores for the gate. Rows naming a user
        or an item the data set lacks have no features: they are skipped and counted."""
        if data.digest not in self._tables:
            raise UsageError("with_feedback needs the data this task prepared", hint="call prepare first")
        users, items = self._tables[data.digest]
        feedback = pd.DataFrame(
            {
                "user_id": rows.user,
                "item_id": rows.item,
                "rating": np.where(rows.label > 0.5, *FEEDBACK_RATINGS),
                "timestamp": rows.timestamp,
                "part": rows.part,
                "served_score": rows.served_score,
            }
        )
        known = feedback["user_id"].isin(users["user_id"]) & feedback["item_id"].isin(items["item_id"])
        known &= feedback["timestamp"].notna()
        if not known.any():
            raise DataError(
                f"none of the {len(feedback)} feedback rows names a {self.name} user and item with a time",
                hint="ranking learns from MovieLens users' clicks on catalogue items (yard simulate ranking)",
            )
        feedback = feedback[known].astype({column: "int64" for column in INTERACTION_COLUMNS})
        added, recent = (feedback[feedback["part"] == part] for part in (TRAIN, RECENT))
        parts = {name: interactions_of(getattr(data, name)) for name in SPLITS}
        parts["train"] = pd.concat([parts["train"], added[list(INTERACTION_COLUMNS)]], ignore_index=True)
        fed = self.task_data(data.digest, {**parts, RECENT: recent[list(INTERACTION_COLUMNS)]})
        summary = {
            "digest": rows.digest,
            "train_rows": len(added),
            "recent_rows": len(recent),
            "skipped_unknown": int((~known).sum()),
            "train_positive_rate": float((added["rating"] >= CLICK_RATING).mean()) if len(added) else None,
        }
        return replace(
            fed,
            recent={**fed.recent, "served_scores": recent["served_score"].to_numpy(np.float64)},
            meta={**fed.meta, "feedback": summary},
        )

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        return RankingModel(
            vocab_size=meta["feature_spec"]["vocab_size"],
            user_fields=meta["user_fields"],
            item_fields=meta["item_fields"],
            item_pooled_slots=meta["genre_slots"],
            context_fields=meta["context_fields"],
            history_groups=[(int(width), bool(pooled)) for width, pooled in meta["history_groups"]],
            embedding_dim=config["embedding_dim"],
            tower_hidden=config["tower_hidden"],
            tower_dim=config["tower_dim"],
            cross_layers=config["cross_layers"],
            deep=list(config["deep"]),
            dropout=config["dropout"],
        )

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> torch.Tensor:
        logits, users, items = model(batch["user"], batch["item"], batch["context"], batch["history"])
        click_loss = F.binary_cross_entropy_with_logits(logits, batch["label"])
        return click_loss + config["retrieval_weight"] * in_batch_softmax_loss(users, items, batch, config)

    def augment(self, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Show a share of rows as a cold user would arrive (unknown id, same profile).

        Every training user is warm, but users new to a version are cold: without this the
        unknown-user ids would reach the model untrained. The history features stay: each user's
        first ratings already show the model the no-history row a cold user gets.
        """
        cold = torch.rand(len(batch["user"]), device=batch["user"].device) < config["cold_user_rate"]
        return {**batch, "user": torch.where(cold.unsqueeze(1), batch["cold_user"], batch["user"])}

    def evaluate(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> Evaluation:
        model.eval()
        probabilities = click_probabilities(model, data.test)
        baseline_probabilities = logistic_baseline_probabilities(data)
        labels = data.test["label"]
        started = time.monotonic()
        vectors, l2 = fit_item_vectors(data)
        metrics = ctr_metrics(data, probabilities) | {
            "retrieval_seconds": time.monotonic() - started,
            "retrieval_l2": l2,
            f"recall_at_{RETRIEVAL_K}": served_recall(vectors, data),
            f"tower_recall_at_{RETRIEVAL_K}": tower_recall(model, data),
        }
        if data.recent is not None:
            metrics |= recent_window_metrics(
                "auc",
                roc_auc_score,
                data.recent["label"],
                lambda: click_probabilities(model, data.recent),
                data.recent["served_scores"],
            )
        curves = {
            "model": reliability_payload(labels, probabilities),
            "baseline": reliability_payload(labels, baseline_probabilities),
            "model_ece": metrics["ece"],
            "baseline_ece": expected_calibration_error(labels, baseline_probabilities, CALIBRATION_BINS),
        }
        return Evaluation(metrics=metrics, curves=curves, artifacts={Path(ITEM_VECTORS_FILE).stem: vectors})

    def profile(self, model: nn.Module, data: TaskData, evaluation: Evaluation) -> dict[str, Any] | None:
        """One answer per validation user, as serving would give it (``reference.served_answers``)."""
        users, items, scores = served_answers(model, data, evaluation.artifacts[Path(ITEM_VECTORS_FILE).stem])
        context = popularity_context(data.train["user_id"], data.train["item_id"], data.train["label"] > 0.5)
        return build_profile(self.name, signals(users, items, scores, context), context)

    def baseline(self, data: TaskData) -> dict[str, float]:
        """Logistic regression on one-hot user, item and context ids (the click metrics) and on those
        plus the history ids (``logistic_history_auc``: weaker here, one-hot buckets without
        crosses); most-clicked items for retrieval, and the item-item baselines EASE and item-kNN
        (``ease_``/``item_knn_`` metrics); each with its fit time in seconds (``*_seconds``)."""
        started = time.monotonic()
        metrics = ctr_metrics(data, logistic_baseline_probabilities(data))
        metrics["logistic_seconds"] = time.monotonic() - started
        started = time.monotonic()
        with_history = logistic_baseline_probabilities(data, (*ID_BLOCKS, "history"))
        metrics["logistic_history_auc"] = float(roc_auc_score(data.test["label"], with_history))
        metrics["logistic_history_seconds"] = time.monotonic() - started
        clicked = data.train["item_id"][data.train["label"] > 0.5]
        items, clicks = np.unique(clicked, return_counts=True)
        popular = items[np.argsort(-clicks, kind="stable")].tolist()
        history = seen_items(data)
        users, relevant = test_positives(data)
        retrieved = [[i for i in popular if i not in history.get(u, set())][:RETRIEVAL_K] for u in users]
        return (
            metrics
            | {f"recall_at_{RETRIEVAL_K}": mean_recall_at_k(retrieved, relevant)}
            | neighbour_recalls(data)
        )

    def export(
        self, model: nn.Module, data: TaskData, config: dict[str, Any]
    ) -> tuple[list[ExportedModel], dict[str, Any]]:
        model = model.cpu().eval()
        n_user, n_item, n_context = (data.meta[k] for k in ("user_fields", "item_fields", "context_fields"))
        n_ctr = n_user + n_item + n_context + HISTORY_WIDTH
        exported = [
            ExportedModel(
                CTR,
                torch.jit.script(ClickProbability(model.ranker)),
                [TensorSpec("features", "int64", (n_ctr,))],
                [TensorSpec("probability", "float32", (1,))],
                max_batch_size=256,
            ),
        ]
        preprocessing = {
            "feature_spec": data.meta["feature_spec"],
            "user_fields": list(USER_FIELDS),
            "item_fields": list(ITEM_FIELDS),
            "context_fields": list(CONTEXT_FIELDS),
            "history_fields": [*SCALAR_FIELDS, "top_genres", "recent_clicks", "recent_skips"],
            "ctr_features": "user_fields + item_fields + context_fields + history (training.ranking.history)",
            "featurizer": "training.ranking.features",
            "click_definition": f"rating >= {CLICK_RATING}",
            "catalogue": data.meta["catalogue"],
            ITEMS: data.meta[ITEMS],
            SEEN: seen_history(data),
            HISTORY: interaction_log(data),
        }
        return exported, preprocessing

    def plot(self, evaluation: Evaluation, path: Path) -> None:
        plot_reliability(evaluation.curves, path)

    def search_space(self) -> dict[str, Any]:
        # lazy: ray takes seconds to import; only this path needs it
        from ray import tune

        return {
            "lr": tune.loguniform(5e-4, 5e-3),
            "embedding_dim": tune.choice([8, 16, 32]),
            "dropout": tune.uniform(0.0, 0.3),
            "retrieval_weight": tune.uniform(0.1, 1.0),
            "cold_user_rate": tune.uniform(0.0, 0.5),
        }


def interactions_of(part: dict[str, np.ndarray]) -> pd.DataFrame:
    """A split's raw interactions back from its columns (``feature_columns`` keeps them)."""
    return pd.DataFrame({column: part[column] for column in INTERACTION_COLUMNS})


def table_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {column: frame[column].to_numpy() for column in frame.columns}


def time_ordered_split(interactions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each user's history in time order: first 80% train, next 10% val, last 10% test.

    The model never sees a user's future, and every test user has a history, which is what a
    recommender serving known users faces. (A single global time cut instead leaves 86% of test
    interactions to users unseen in training: a cold-start evaluation where only item features
    carry signal; model and logistic baseline both reach only AUC ~0.70 there.)
    """
    frame = interactions.reset_index(drop=True)
    position = frame.groupby("user_id").cumcount()
    share = position / frame.groupby("user_id")["user_id"].transform("size")
    train_end, val_end = SPLIT_FRACTIONS[0], SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]
    return {
        "train": frame[share < train_end],
        "val": frame[(share >= train_end) & (share < val_end)],
        "test": frame[share >= val_end],
    }


def feature_columns(
    spec: FeatureSpec, part: pd.DataFrame, click_share: pd.Series, histories: dict[int, UserHistory]
) -> dict[str, np.ndarray]:
    """Model inputs, the cold-start view of each user (for ``augment``), the raw columns evaluation
    groups by and export stores, and ``item_logq`` for the logQ correction."""
    share = part["item_id"].map(click_share).fillna(click_share.min()).to_numpy()
    users, items, stamps = (part[c].to_numpy(dtype=np.int64) for c in ("user_id", "item_id", "timestamp"))
    return {
        "user": user_feature_ids(spec, users),
        "cold_user": cold_user_feature_ids(spec, users),
        "item": item_feature_ids(spec, items),
        "context": context_feature_ids(spec, stamps),
        "history": history_feature_ids(spec, histories, users, items, stamps),
        "label": (part["rating"] >= CLICK_RATING).to_numpy(dtype=np.float32),
        "item_logq": np.log(share).astype(np.float32),
        "user_id": users,
        "item_id": items,
        "timestamp": stamps,
        "rating": part["rating"].to_numpy(dtype=np.int64),
    }


def in_batch_softmax_loss(
    users: torch.Tensor, items: torch.Tensor, batch: dict[str, torch.Tensor], config: dict[str, Any]
) -> torch.Tensor:
    """Each positive pair's item against the other positives' items in the batch.

    Other rows holding the same item are not negatives (masked out). With fewer than two
    positives there is nothing to contrast: the loss is a zero that still touches both towers.
    """
    positive = batch["label"] > 0.5
    if int(positive.sum()) < 2:
        return (users.sum() + items.sum()) * 0.0
    scores = users[positive] @ items[positive].T / config["temperature"]
    if config["logq_correction"]:
        scores = scores - batch["item_logq"][positive].unsqueeze(0)
    item_ids = batch["item_id"][positive]
    duplicate = (item_ids.unsqueeze(0) == item_ids.unsqueeze(1)) & ~torch.eye(
        len(item_ids), dtype=torch.bool, device=scores.device
    )
    scores = scores.masked_fill(duplicate, torch.finfo(scores.dtype).min)
    return F.cross_entropy(scores, torch.arange(len(item_ids), device=scores.device))


@torch.no_grad()
def click_probabilities(model: RankingModel, part: dict[str, np.ndarray]) -> np.ndarray:
    features = ctr_columns(part)
    device = next(model.parameters()).device
    chunks = [
        torch.sigmoid(model.ranker(torch.from_numpy(features[start : start + _BATCH]).to(device)))
        .cpu()
        .numpy()
        for start in range(0, len(features), _BATCH)
    ]
    return np.concatenate(chunks).astype(np.float64)


def ctr_columns(part: dict[str, np.ndarray]) -> np.ndarray:
    """The click model's input [N, F] of a split, in ``ctr_feature_ids`` order."""
    return np.concatenate([part[block] for block in (*ID_BLOCKS, "history")], axis=1)


def ctr_metrics(data: TaskData, probabilities: np.ndarray) -> dict[str, float]:
    """Click metrics on test; nDCG ranks each user's test items by score with binary (click) gains."""
    labels = data.test["label"]
    return {
        "auc": float(roc_auc_score(labels, probabilities)),
        "log_loss": log_loss(labels, probabilities),
        "nce": normalized_cross_entropy(labels, probabilities, data.meta["train_click_rate"]),
        "ece": expected_calibration_error(labels, probabilities, CALIBRATION_BINS),
        f"ndcg_at_{NDCG_K}": mean_ndcg_at_k(data.test["user_id"], labels, probabilities, NDCG_K),
    }


def logistic_baseline_probabilities(data: TaskData, blocks: tuple[str, ...] = ID_BLOCKS) -> np.ndarray:
    """Logistic regression on one-hot ids of the given input blocks (ids the model sees too)."""
    size = data.meta["feature_spec"]["vocab_size"]

    def one_hot(part: dict[str, np.ndarray]):
        return bag_of_ids(np.concatenate([part[block] for block in blocks], axis=1), size)

    classifier = LogisticRegression(C=0.1, max_iter=2000).fit(one_hot(data.train), data.train["label"])
    return classifier.predict_proba(one_hot(data.test))[:, 1]


def neighbour_recalls(data: TaskData) -> dict[str, float]:
    """Test recall@K of EASE and item-kNN, each with the setting that does best on validation.

    Settings are chosen fitting on train and retrieving validation clicks; the chosen one is refit
    on train + validation (the history the served retrieval's recall is measured against) and scored
    on test.
    """
    catalogue = data.meta["catalogue"]
    started = time.monotonic()
    choose = NeighbourHistory.of(data, ("train",), catalogue)
    final = NeighbourHistory.of(data, ("train", "val"), catalogue)
    shared_seconds = time.monotonic() - started
    results = {}
    for name, settings, fit in (
        ("ease", EASE_L2, ease_weights),
        ("item_knn", KNN_NEIGHBOURS, item_knn_weights),
    ):
        started = time.monotonic()
        best = best_setting(data, fit, settings, choose)
        results[f"{name}_recall_at_{RETRIEVAL_K}"] = final.recall(fit(final.gram, best), data.test)
        results[f"{name}_setting"] = float(best)
        results[f"{name}_seconds"] = shared_seconds + time.monotonic() - started
    return results


def best_setting(
    data: TaskData,
    fit: Callable[[np.ndarray, float], np.ndarray],
    settings: Sequence[float],
    choose: NeighbourHistory | None = None,
) -> float:
    """The setting whose weights, fit on train, retrieve validation clicks best."""
    choose = choose or NeighbourHistory.of(data, ("train",), data.meta["catalogue"])
    return max(settings, key=lambda setting: choose.recall(fit(choose.gram, setting), data.val))


def fit_item_vectors(data: TaskData) -> tuple[np.ndarray, float]:
    """The served retrieval's item vectors (``retrieval.item_vectors``) and their EASE L2: chosen on
    validation fitting on train, refit on train + validation, as the EASE baseline is."""
    l2 = best_setting(data, ease_weights, EASE_L2)
    history = NeighbourHistory.of(data, ("train", "val"), data.meta["catalogue"])
    return item_vectors(ease_weights(history.gram, l2)), l2


def served_recall(vectors: np.ndarray, data: TaskData) -> float:
    """Recall@K of the served retrieval for test clickers: each user's vector from the train +
    validation history (``retrieval.user_vector``, as the transformer builds it), cosine against
    ``vectors`` (as the collection searches), history masked out."""
    users, relevant = test_positives(data)
    history = seen_items(data)
    catalogue = np.asarray(data.meta["catalogue"])
    queries = np.stack([user_vector(catalogue, history.get(user, ())) for user in users])
    scores = torch.from_numpy(unseen_scores(queries, vectors))
    top = scores.topk(RETRIEVAL_K, dim=1).indices.numpy()
    return mean_recall_at_k(catalogue[top], relevant)


@dataclass(frozen=True)
class NeighbourHistory:
    """The interactions item-item baselines fit on and score from, with their co-occurrences."""

    users: list[int]
    matrix: sparse.csr_matrix
    gram: np.ndarray
    catalogue: np.ndarray

    @classmethod
    def of(cls, data: TaskData, parts: tuple[str, ...], catalogue: list[int]) -> NeighbourHistory:
        columns = [getattr(data, part) for part in parts]
        user_ids = np.concatenate([c["user_id"] for c in columns])
        users = np.unique(user_ids).tolist()
        items = np.concatenate([c["item_id"] for c in columns])
        matrix = interaction_matrix(user_ids, items, users, catalogue)
        return cls(users, matrix, co_occurrence(matrix), np.asarray(catalogue))

    def recall(self, weights: np.ndarray, target: dict[str, np.ndarray]) -> float:
        """Recall@K of the weights' top unseen items against the clicks in ``target``."""
        relevant = clicked_items(target)
        rows = [row for row, user in enumerate(self.users) if user in relevant]
        top = top_k_unseen(self.matrix[rows], weights, RETRIEVAL_K)
        return mean_recall_at_k(self.catalogue[top], [relevant[self.users[row]] for row in rows])


def seen_items(data: TaskData) -> dict[int, set[int]]:
    """Each user's items before the test period (train + val): never recommended again."""
    seen: dict[int, set[int]] = {}
    for part in (data.train, data.val):
        for user, item in zip(part["user_id"].tolist(), part["item_id"].tolist(), strict=True):
            seen.setdefault(user, set()).add(item)
    return seen


def seen_history(data: TaskData) -> dict[str, str]:
    """Every interaction training had (all splits): what serving never recommends again."""
    parts = (data.train, data.val, data.test)
    return seen_table(
        np.concatenate([part["user_id"] for part in parts]),
        np.concatenate([part["item_id"] for part in parts]),
    )


def interaction_log(data: TaskData) -> dict[str, str]:
    """Every interaction with its rating and time (all splits): the history serving featurises."""
    parts = (data.train, data.val, data.test)
    return history_table(
        *(
            np.concatenate([part[column] for part in parts])
            for column in ("user_id", "item_id", "rating", "timestamp")
        )
    )


def clicked_items(part: dict[str, np.ndarray]) -> dict[int, set[int]]:
    """User -> the items the user clicked in ``part``."""
    clicked: dict[int, set[int]] = {}
    positive = part["label"] > 0.5
    for user, item in zip(
        part["user_id"][positive].tolist(), part["item_id"][positive].tolist(), strict=True
    ):
        clicked.setdefault(user, set()).add(item)
    return clicked


def test_positives(data: TaskData) -> tuple[list[int], list[set[int]]]:
    """Users with at least one test click, and their clicked test items."""
    clicked = clicked_items(data.test)
    users = sorted(clicked)
    return users, [clicked[u] for u in users]


@torch.no_grad()
def tower_recall(model: RankingModel, data: TaskData) -> float:
    """Recall@K of the towers over the whole catalogue, for test clickers, history masked out."""
    spec = FeatureSpec.from_json(data.meta["feature_spec"])
    catalogue = np.array(data.meta["catalogue"])
    device = next(model.parameters()).device
    item_vectors = model.item_tower(torch.from_numpy(item_feature_ids(spec, catalogue)).to(device))
    users, relevant = test_positives(data)
    scores = (
        model.user_tower(torch.from_numpy(user_feature_ids(spec, users)).to(device)) @ item_vectors.T
    ).cpu()
    position = {int(item): i for i, item in enumerate(catalogue)}
    history = seen_items(data)
    for row, user in enumerate(users):
        scores[row, [position[i] for i in history.get(user, ())]] = -torch.inf
    top = scores.topk(RETRIEVAL_K, dim=1).indices.numpy()
    return mean_recall_at_k(catalogue[top], relevant)


def reliability_payload(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, list[float | None]]:
    """Reliability bins as JSON (empty bins as null)."""
    bins = reliability_bins(labels, probabilities, CALIBRATION_BINS)
    return {
        "mean_predicted": json_floats(bins.mean_predicted),
        "observed_rate": json_floats(bins.observed_rate),
        "counts": bins.counts.tolist(),
    }


def json_floats(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 5) for v in values]
