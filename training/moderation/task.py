"""Moderation task: SpamAssassin emails -> one probability per harm head, with stored thresholds.

Heads come from ``HEAD_LABELS``: the corpus only supports ``spam`` (its sole honest label),
and a new category slots in as one more (head, label column) pair.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from modelyard.data import load
from modelyard.settings import Settings
from training.base import Evaluation, ExportedModel, TaskData, TensorSpec, TrainTask
from training.baselines import bag_of_ids
from training.metrics.classification import (
    choose_operating_points,
    pr_auc,
    pr_curve_points,
    precision_recall_at,
    roc_auc,
)
from training.moderation.model import HarmScorer, HashedNgramClassifier
from training.moderation.plots import plot_pr_curves
from training.moderation.preprocess import (
    PAD_ID,
    FeaturizerConfig,
    featurize,
    normalize_email,
    short_segments,
)

HEAD_LABELS: dict[str, str] = {"spam": "label"}
"""Harm head -> label column of the dataset frame (1 = harmful)."""

BLOCK_PRECISION = 0.99
REVIEW_RECALL = 0.95
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
SMOKE_EMAILS = 1500
SEGMENTS_PER_EMAIL = 2
SEGMENT_WORDS = 16
"""Short training windows: 1..16 words, about the length of a chat message or a subject line."""
PARTS = ("train", "val", "test")
_SCORE_BATCH = 512


class ModerationTask(TrainTask):
    name: ClassVar[str] = "moderation"
    headline_metric: ClassVar[str] = "pr_auc"
    higher_is_better: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]] = {
        "lr": 1e-2,
        "weight_decay": 0.0,
        "epochs": 4,
        "batch_size": 64,
        "embedding_dim": 32,
        "hidden_dim": 64,
        "dropout": 0.2,
        "token_dropout": 0.1,
        "seed": 0,
    }
    featurizer: ClassVar[FeaturizerConfig] = FeaturizerConfig()

    def prepare(self, settings: Settings, smoke: bool) -> TaskData:
        dataset = load("spamassassin", settings)
        frame = dataset.frame.assign(normalized=[normalize_email(text) for text in dataset.frame["text"]])
        # Forwarded copies of one email are the same example: keep one so no test email was trained on.
        frame = frame.drop_duplicates("normalized").reset_index(drop=True)
        duplicates_dropped = len(dataset.frame) - len(frame)
        seed = self.default_config["seed"]
        if smoke:
            frame, _ = train_test_split(frame, train_size=SMOKE_EMAILS, stratify=frame["group"], random_state=seed)
            frame = frame.reset_index(drop=True)
        labels = frame[list(HEAD_LABELS.values())].to_numpy(dtype=np.float32)
        parts = stratified_split(frame["group"].to_numpy(), seed)
        texts = frame["normalized"].tolist()
        columns = {
            name: {"tokens": featurize([texts[row] for row in rows], self.featurizer), "labels": labels[rows]}
            for name, rows in parts.items()
        }
        columns["train"] = with_segments(columns["train"], [texts[row] for row in parts["train"]], seed)
        columns["test"]["body_tokens"] = featurize(
            [normalize_email(frame["text"][row], with_subject=False) for row in parts["test"]], self.featurizer
        )
        meta = {
            "heads": list(HEAD_LABELS),
            "featurizer": asdict(self.featurizer),
            "rows": {name: len(rows) for name, rows in parts.items()},
            "segment_rows": int(columns["train"]["segment"].sum()),
            "positive_rate": {name: float(labels[rows].mean()) for name, rows in parts.items()},
            "duplicates_dropped": duplicates_dropped,
        }
        return TaskData(**columns, digest=dataset.digest, meta=meta)

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        return HashedNgramClassifier(
            buckets=meta["featurizer"]["buckets"],
            embedding_dim=config["embedding_dim"],
            hidden_dim=config["hidden_dim"],
            heads=len(meta["heads"]),
            dropout=config["dropout"],
        )

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(model(batch["tokens"]), batch["labels"])

    def augment(self, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Drop a random share of n-gram ids, so no single phrase decides a head."""
        tokens = batch["tokens"]
        dropped = torch.rand(tokens.shape, device=tokens.device) < config["token_dropout"]
        return {**batch, "tokens": tokens.masked_fill(dropped, PAD_ID)}

    def evaluate(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> Evaluation:
        heads = data.meta["heads"]
        model_scores = {part: predict(model, tokens) for part, tokens in scored_parts(data).items()}
        baseline_scores = tfidf_baseline_scores(data)
        metrics, thresholds, operating = score_heads(data, model_scores, heads)
        baseline_metrics, _, _ = score_heads(data, baseline_scores, heads)
        metrics |= short_message_check(model, thresholds, data.meta["featurizer"])
        curves = {
            "heads": {
                head: {
                    "model": pr_curve_points(data.test["labels"][:, h], model_scores["test"][:, h]),
                    "baseline": pr_curve_points(data.test["labels"][:, h], baseline_scores["test"][:, h]),
                    "model_pr_auc": metrics[f"{head}_pr_auc"],
                    "baseline_pr_auc": baseline_metrics[f"{head}_pr_auc"],
                    "operating_points": operating[head],
                    "base_rate": float(data.test["labels"][:, h].mean()),
                }
                for h, head in enumerate(heads)
            }
        }
        return Evaluation(metrics=metrics, curves=curves, artifacts={"thresholds": thresholds})

    def baseline(self, data: TaskData) -> dict[str, float]:
        metrics, _, _ = score_heads(data, tfidf_baseline_scores(data), data.meta["heads"])
        return metrics

    def export(
        self, model: nn.Module, data: TaskData, config: dict[str, Any]
    ) -> tuple[list[ExportedModel], dict[str, Any]]:
        scorer = torch.jit.script(HarmScorer(model).cpu().eval())
        heads = data.meta["heads"]
        exported = ExportedModel(
            name="moderation",
            module=scorer,
            inputs=[TensorSpec("tokens", "int64", (data.meta["featurizer"]["max_tokens"],))],
            outputs=[TensorSpec("scores", "float32", (len(heads),))],
        )
        preprocessing = {
            "featurizer": data.meta["featurizer"],
            "heads": heads,
            "normalizer": "training.moderation.preprocess.normalize_email",
            "featurize": "training.moderation.preprocess.featurize",
        }
        return [exported], preprocessing

    def plot(self, evaluation: Evaluation, path: Path) -> None:
        plot_pr_curves(evaluation.curves, path)

    def search_space(self) -> dict[str, Any]:
        from ray import tune

        return {
            "lr": tune.loguniform(5e-4, 1e-2),
            "embedding_dim": tune.choice([16, 32, 64]),
            "dropout": tune.uniform(0.0, 0.5),
            "token_dropout": tune.uniform(0.0, 0.3),
        }


def stratified_split(groups: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Row indices for train/val/test, stratified by corpus group (so hard ham lands in every part)."""
    train_share, val_share, test_share = SPLIT_FRACTIONS
    rows = np.arange(len(groups))
    train, rest = train_test_split(rows, train_size=train_share, stratify=groups, random_state=seed)
    val, test = train_test_split(
        rest, test_size=test_share / (val_share + test_share), stratify=groups[rest], random_state=seed
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def with_segments(part: dict[str, np.ndarray], texts: list[str], seed: int) -> dict[str, np.ndarray]:
    """The train emails plus ``SEGMENTS_PER_EMAIL`` short windows of each (with its label),
    shuffled together so every batch mixes both; ``segment`` flags the windows, so the baseline
    keeps to whole emails."""
    rng = np.random.default_rng(seed)
    windows = [
        segment for text in texts for segment in short_segments(text, SEGMENTS_PER_EMAIL, SEGMENT_WORDS, rng)
    ]
    labels = np.repeat(part["labels"], SEGMENTS_PER_EMAIL, axis=0)
    rows = rng.permutation(len(texts) + len(windows))
    return {
        "tokens": np.concatenate([part["tokens"], featurize(windows, ModerationTask.featurizer)])[rows],
        "labels": np.concatenate([part["labels"], labels])[rows],
        "segment": np.concatenate([np.zeros(len(texts), np.int8), np.ones(len(windows), np.int8)])[rows],
    }


def data_part(data: TaskData, part: str) -> dict[str, np.ndarray]:
    return {"train": data.train, "val": data.val, "test": data.test}[part]


@torch.no_grad()
def predict(model: nn.Module, tokens: np.ndarray) -> np.ndarray:
    """Probabilities [N, heads] in eval mode, in batches."""
    model.eval()
    device = next(model.parameters()).device
    scores = [
        torch.sigmoid(model(torch.from_numpy(tokens[start : start + _SCORE_BATCH]).to(device))).cpu().numpy()
        for start in range(0, len(tokens), _SCORE_BATCH)
    ]
    return np.concatenate(scores).astype(np.float64)


def scored_parts(data: TaskData) -> dict[str, np.ndarray]:
    """The token sets every scorer is judged on: val (thresholds), test (the gate) and the test
    emails with every header stripped (the leakage check)."""
    return {"val": data.val["tokens"], "test": data.test["tokens"], "test_body": data.test["body_tokens"]}


def tfidf_baseline_scores(data: TaskData) -> dict[str, np.ndarray]:
    """TF-IDF over the same hashed n-gram ids + one logistic regression per head, trained on the
    whole train emails (not the short windows): scores for each of ``scored_parts``."""
    buckets = data.meta["featurizer"]["buckets"]
    emails = data.train["segment"] == 0
    train = bag_of_ids(data.train["tokens"][emails], buckets)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(train)
    features = {part: tfidf.transform(bag_of_ids(tokens, buckets)) for part, tokens in scored_parts(data).items()}
    scores: dict[str, list[np.ndarray]] = {part: [] for part in features}
    for h in range(len(data.meta["heads"])):
        classifier = LogisticRegression(C=10.0, max_iter=2000).fit(
            tfidf.transform(train), data.train["labels"][emails, h]
        )
        for part, columns in scores.items():
            columns.append(classifier.predict_proba(features[part])[:, 1])
    return {part: np.stack(columns, axis=1) for part, columns in scores.items()}


def score_heads(
    data: TaskData, scores: dict[str, np.ndarray], heads: list[str]
) -> tuple[dict[str, float], dict[str, dict[str, float | None]], dict[str, dict[str, dict[str, float]]]]:
    """Per-head test metrics at thresholds chosen on val; macro means as the unprefixed headline.

    Returns (metrics, thresholds.json payload, test operating points for the plot).
    """
    metrics: dict[str, float] = {}
    thresholds: dict[str, dict[str, float | None]] = {}
    operating: dict[str, dict[str, dict[str, float]]] = {}
    for h, head in enumerate(heads):
        val_labels, test_labels = data.val["labels"][:, h], data.test["labels"][:, h]
        val_scores, test_scores = scores["val"][:, h], scores["test"][:, h]
        points = choose_operating_points(val_labels, val_scores, BLOCK_PRECISION, REVIEW_RECALL)
        block = precision_recall_at(test_labels, test_scores, points.block)
        review = precision_recall_at(test_labels, test_scores, points.review)
        body_scores = scores["test_body"][:, h]
        body_block = precision_recall_at(test_labels, body_scores, points.block)
        metrics |= {
            f"{head}_body_pr_auc": pr_auc(test_labels, body_scores),
            f"{head}_body_precision_at_block": body_block[0],
            f"{head}_body_recall_at_block": body_block[1],
            f"{head}_pr_auc": pr_auc(test_labels, test_scores),
            f"{head}_roc_auc": roc_auc(test_labels, test_scores),
            f"{head}_precision_at_block": block[0],
            f"{head}_recall_at_block": block[1],
            f"{head}_precision_at_review": review[0],
            f"{head}_recall_at_review": review[1],
        }
        thresholds[head] = asdict(points)
        operating[head] = {
            "block": {"threshold": points.block, "precision": block[0], "recall": block[1]},
            "review": {"threshold": points.review, "precision": review[0], "recall": review[1]},
        }
    for name in ("pr_auc", "roc_auc", "body_pr_auc"):
        metrics[name] = float(np.mean([metrics[f"{head}_{name}"] for head in heads]))
    return metrics, thresholds, operating


SHORT_MESSAGES = Path(__file__).with_name("short_messages.tsv")


def read_short_messages(path: Path = SHORT_MESSAGES) -> list[tuple[str, str]]:
    """(label, text) rows of the hand-written check set; label is ``benign`` or ``harmful``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


def short_message_check(
    model: nn.Module, thresholds: dict[str, dict[str, float | None]], featurizer: dict[str, Any]
) -> dict[str, float]:
    """Share of the hand-written benign lines allowed, and of the harmful ones flagged (review or
    block) or blocked, by the strictest head, through serving's own normalisation."""
    labels, texts = zip(*read_short_messages(), strict=True)
    config = FeaturizerConfig(**featurizer)
    scores = predict(model, featurize([normalize_email(text, config.max_chars) for text in texts], config))
    heads = list(thresholds)
    review = np.array([thresholds[head]["review"] for head in heads])
    block = np.array([np.inf if thresholds[head]["block"] is None else thresholds[head]["block"] for head in heads])
    flagged, blocked = (scores >= review).any(axis=1), (scores >= block).any(axis=1)
    benign, harmful = np.array(labels) == "benign", np.array(labels) == "harmful"
    return {
        "short_benign_allowed": float(np.mean(~flagged[benign])),
        "short_benign_blocked": float(np.mean(blocked[benign])),
        "short_harmful_flagged": float(np.mean(flagged[harmful])),
        "short_harmful_blocked": float(np.mean(blocked[harmful])),
    }
