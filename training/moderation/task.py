"""Moderation task: SpamAssassin emails -> one probability per harm head, with stored thresholds.

Heads come from ``HEAD_LABELS``: the corpus only supports ``spam`` (its sole honest label),
and a new category slots in as one more (head, label column) pair.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize
from torch import nn
from torch.nn import functional as F

from modelyard.data import load
from modelyard.models import MODERATION
from modelyard.settings import Settings
from training.base import Evaluation, ExportedModel, TaskData, TensorSpec, TrainTask
from training.baselines import bag_of_ids
from training.feedback import RECENT, TRAIN, LabelledRows
from training.feedback import recent_window_metrics as feedback_window_metrics
from training.metrics.classification import (
    choose_operating_points,
    pr_auc,
    pr_curve_points,
    precision_recall_at,
    roc_auc,
)
from training.moderation.model import HarmScorer, HashedNgramClassifier, StackedClassifier, TermLogistic
from training.moderation.plots import plot_pr_curves
from training.moderation.preprocess import (
    PAD_ID,
    FeaturizerConfig,
    featurize,
    normalize_email,
    short_segments,
)
from training.moderation.signals import decide, signals, vocabulary_context
from training.profile import build_profile


@dataclass(frozen=True)
class LinearFit:
    """A fitted logistic regression per head as one module, the C each head got, and what fitting took."""

    module: TermLogistic
    c: list[float]
    seconds: float


@dataclass(frozen=True)
class LinearFits:
    """The two linear models of a data set, fitted once: ``evaluate``, ``baseline`` and
    ``finalize`` share them."""

    baseline: LinearFit
    """TF-IDF + logistic regression: the baseline the gate's metric is compared with."""
    half: LinearFit
    """NBSVM-style logistic regression (log-count ratio features): the stack's linear half."""


HEAD_LABELS: dict[str, str] = {"spam": "label"}
"""Harm head -> label column of the dataset frame (1 = harmful)."""

BLOCK_PRECISION = 0.99
REVIEW_RECALL = 0.95
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
SMOKE_EMAILS = 1500
NETWORK_WEIGHTS = tuple(share / 10 for share in range(1, 10))
"""The network's share in the stack, picked on validation."""
LINEAR_C = (10.0, 30.0, 100.0)
"""Inverse regularisation strengths tried for every logistic regression, the baseline's too (a
baseline tuned on validation is the honest bar); each head keeps its best validation PR-AUC."""
NB_SMOOTHING = 1.0
"""Added to every id's count in each class before the log-count ratios (NBSVM's alpha)."""
SHORT_TEXT_WORDS = 20
"""Below this many words a text is judged by the short-text rule (``add_short_text_thresholds``)."""
SHORT_HARMLESS_FLAGGED = 0.025
"""Share of short windows cut from harmless validation emails that the short-text rule sends to
review: the short review threshold is their ``1 - SHORT_HARMLESS_FLAGGED`` quantile, per head. A
stack of standardised logits is not calibrated, so a fixed "even odds" score means nothing here."""
SHORT_WINDOWS_PER_EMAIL = 4
"""Windows cut from each validation email for the short-text threshold (about 2,400 harmless ones)."""
SEGMENTS_PER_EMAIL = 2
SEGMENT_WORDS = 16
"""Short training windows: 1..16 words, about the length of a chat message or a subject line."""
_SCORE_BATCH = 512


class ModerationTask(TrainTask):
    name: ClassVar[str] = MODERATION.name
    headline_metric: ClassVar[str] = "pr_auc"
    higher_is_better: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]] = {
        "lr": 3e-3,
        "weight_decay": 0.05,
        "epochs": 4,
        "batch_size": 64,
        "embedding_dim": 32,
        "hidden_dim": 64,
        "dropout": 0.2,
        "token_dropout": 0.1,
        "seed": 0,
    }
    featurizer: ClassVar[FeaturizerConfig] = FeaturizerConfig()

    def __init__(self) -> None:
        self._linear_fits: dict[tuple[str, int], LinearFits] = {}
        self._profile_inputs: dict[tuple[str, int], tuple[list[str], dict[str, Any]]] = {}
        """(validation texts, training vocabulary) per data set: ``prepare`` has the texts,
        ``profile`` needs them, and TaskData holds arrays for Ray only."""

    def prepare(self, settings: Settings, smoke: bool) -> TaskData:
        dataset = load("spamassassin", settings)
        seed = self.default_config["seed"]
        frame, duplicates_dropped = corpus_frame(dataset.frame, smoke, seed)
        labels = frame[list(HEAD_LABELS.values())].to_numpy(dtype=np.float32)
        parts = stratified_split(frame["group"].to_numpy(), seed)
        texts = frame["normalized"].tolist()
        columns = {
            name: {"tokens": featurize([texts[row] for row in rows], self.featurizer), "labels": labels[rows]}
            for name, rows in parts.items()
        }
        columns["train"] = with_segments(columns["train"], [texts[row] for row in parts["train"]], seed)
        columns["test"]["body_tokens"] = featurize(
            [normalize_email(frame["text"][row], with_subject=False) for row in parts["test"]],
            self.featurizer,
        )
        self._profile_inputs[dataset.digest, len(parts["val"])] = (
            [texts[row] for row in parts["val"]],
            vocabulary_context([texts[row] for row in parts["train"]]),
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

    def with_feedback(self, data: TaskData, rows: LabelledRows) -> TaskData:
        """Moderators' verdicts on served texts (already normalised by serving): ``train`` rows
        shuffled into the train split as whole messages (so the linear half learns them too),
        ``recent`` rows kept aside with the serving version's scores for the gate."""
        texts, labels, _ = rows.select(TRAIN)
        recent_texts, recent_labels, served = rows.select(RECENT)
        heads = len(data.meta["heads"])
        added = {
            "tokens": featurize(texts, self.featurizer),
            "labels": np.repeat(labels[:, None], heads, axis=1),
            "segment": np.zeros(len(texts), np.int8),
        }
        order = np.random.default_rng(self.default_config["seed"]).permutation(
            len(data.train["tokens"]) + len(texts)
        )
        train = {name: np.concatenate([data.train[name], added[name]])[order] for name in data.train}
        recent = {
            "tokens": featurize(recent_texts, self.featurizer),
            "labels": np.repeat(recent_labels[:, None], heads, axis=1),
            "served_scores": served,
        }
        feedback = {
            "digest": rows.digest,
            "train_rows": len(texts),
            "recent_rows": len(recent_texts),
            "train_positive_rate": float(labels.mean()) if len(texts) else None,
        }
        return replace(data, train=train, recent=recent, meta={**data.meta, "feedback": feedback})

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

    def finalize(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> nn.Module:
        return stack_on_validation(model, data, self.linear_fits(data).half.module)

    def linear_fits(self, data: TaskData) -> LinearFits:
        """Both linear models, fitted once per data set."""
        key = (data.digest, len(data.train["tokens"]))
        if key not in self._linear_fits:
            self._linear_fits[key] = LinearFits(
                baseline=fit_term_logistic(data, idf_weights), half=fit_term_logistic(data, log_count_ratios)
            )
        return self._linear_fits[key]

    def augment(self, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Drop a random share of n-gram ids, so no single phrase decides a head."""
        tokens = batch["tokens"]
        dropped = torch.rand(tokens.shape, device=tokens.device) < config["token_dropout"]
        return {**batch, "tokens": tokens.masked_fill(dropped, PAD_ID)}

    def evaluate(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> Evaluation:
        heads = data.meta["heads"]
        fits = self.linear_fits(data)
        model_scores, baseline_scores = predict_parts(model, data), predict_parts(fits.baseline.module, data)
        metrics, thresholds, operating = score_heads(data, model_scores, heads)
        baseline_metrics, _, _ = score_heads(data, baseline_scores, heads)
        val_texts, _ = self._profile_inputs[data.digest, len(data.val["tokens"])]
        add_short_text_thresholds(thresholds, model, val_texts, data.val["labels"], data.meta["featurizer"])
        metrics |= short_message_check(model, thresholds, data.meta["featurizer"])
        metrics["baseline_fit_seconds"] = fits.baseline.seconds
        metrics["linear_half_fit_seconds"] = fits.half.seconds
        for head, baseline_c, half_c in zip(heads, fits.baseline.c, fits.half.c, strict=True):
            metrics[f"{head}_baseline_c"], metrics[f"{head}_linear_half_c"] = baseline_c, half_c
        if data.recent is not None:
            metrics |= recent_window_metrics(model, data.recent)
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

    def profile(self, model: nn.Module, data: TaskData, evaluation: Evaluation) -> dict[str, Any] | None:
        """The validation emails as serving normalises them, the model's scores and the decisions
        its thresholds give them."""
        heads = data.meta["heads"]
        texts, context = self._profile_inputs[data.digest, len(data.val["tokens"])]
        scores = predict(model, data.val["tokens"])
        words = np.array([len(text.split()) for text in texts])
        decisions = decide(scores, words, evaluation.artifacts["thresholds"], heads)
        return build_profile(
            self.name, signals(texts, scores, decisions, heads, context), context | {"heads": heads}
        )

    def baseline(self, data: TaskData) -> dict[str, float]:
        scores = predict_parts(self.linear_fits(data).baseline.module, data)
        metrics, _, _ = score_heads(data, scores, data.meta["heads"])
        return metrics

    def export(
        self, model: nn.Module, data: TaskData, config: dict[str, Any]
    ) -> tuple[list[ExportedModel], dict[str, Any]]:
        scorer = torch.jit.script(HarmScorer(model).cpu().eval())
        heads = data.meta["heads"]
        exported = ExportedModel(
            name=MODERATION.triton_models[0],
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
        # lazy: ray takes seconds to import; only this path needs it
        from ray import tune

        return {
            "lr": tune.loguniform(5e-4, 1e-2),
            "embedding_dim": tune.choice([16, 32, 64]),
            "dropout": tune.uniform(0.0, 0.5),
            "token_dropout": tune.uniform(0.0, 0.3),
        }


def corpus_frame(raw: pd.DataFrame, smoke: bool, seed: int) -> tuple[pd.DataFrame, int]:
    """(the emails a run splits into train/val/test, how many copies were dropped): normalised,
    forwarded copies dropped (one example: no test email was trained on), and for a smoke run a
    stratified ``SMOKE_EMAILS`` of them. Column ``row`` is each email's row in ``raw``, so the
    emails a smoke run never saw can be found (e.g. held-out traffic for a monitoring test)."""
    frame = raw.assign(normalized=[normalize_email(text) for text in raw["text"]], row=np.arange(len(raw)))
    frame = frame.drop_duplicates("normalized")
    duplicates_dropped = len(raw) - len(frame)
    if smoke:
        frame, _ = train_test_split(
            frame, train_size=SMOKE_EMAILS, stratify=frame["group"], random_state=seed
        )
    return frame.reset_index(drop=True), duplicates_dropped


def held_out_emails(settings: Settings, smoke: bool) -> tuple[list[str], np.ndarray]:
    """The raw test emails (never trained on) and their labels: in-distribution traffic."""
    seed = ModerationTask.default_config["seed"]
    frame, _ = corpus_frame(load("spamassassin", settings).frame, smoke, seed)
    test = stratified_split(frame["group"].to_numpy(), seed)["test"]
    return frame["text"].iloc[test].tolist(), frame["label"].iloc[test].to_numpy(dtype=np.int8)


def recent_window_metrics(model: nn.Module, recent: dict[str, np.ndarray]) -> dict[str, float]:
    """PR-AUC on the recent labelled window of the candidate and of the version that served it
    (its logged scores); a text is as harmful as its worst head, as serving decides."""
    return feedback_window_metrics(
        "pr_auc",
        pr_auc,
        recent["labels"][:, 0],
        lambda: predict(model, recent["tokens"]).max(axis=1),
        np.asarray(recent["served_scores"], dtype=np.float64),
    )


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
def logits(model: nn.Module, tokens: np.ndarray) -> np.ndarray:
    """Raw scores [N, heads] in eval mode, in batches."""
    model.eval()
    device = next(iter(model.state_dict().values())).device
    scores = [
        model(torch.from_numpy(tokens[start : start + _SCORE_BATCH]).to(device)).cpu().numpy()
        for start in range(0, len(tokens), _SCORE_BATCH)
    ]
    return np.concatenate(scores).astype(np.float64)


def predict(model: nn.Module, tokens: np.ndarray) -> np.ndarray:
    """Probabilities [N, heads]."""
    return expit(logits(model, tokens))


def predict_parts(model: nn.Module, data: TaskData) -> dict[str, np.ndarray]:
    """Probabilities on the token sets every scorer is judged on: val (thresholds), test (the gate)
    and the test emails with every header stripped (the leakage check)."""
    parts = {"val": data.val["tokens"], "test": data.test["tokens"], "test_body": data.test["body_tokens"]}
    return {part: predict(model, tokens) for part, tokens in parts.items()}


def presence(tokens: np.ndarray, buckets: int) -> sparse.csr_matrix:
    """Which ids each text holds [N, buckets], 0/1."""
    return (bag_of_ids(tokens, buckets) > 0).astype(np.float64)


def idf_weights(train: sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """TF-IDF's smoothed idf of every id over the train emails, the same for every head [heads, buckets]."""
    return np.tile(TfidfTransformer().fit(train).idf_, (labels.shape[1], 1))


def log_count_ratios(train: sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """NBSVM's per-head log-count ratios [heads, buckets] (Wang and Manning, 2012): how much more
    often each id is in harmful train emails than in harmless ones, on a log scale. A logistic
    regression over them starts from naive Bayes' evidence and only has to correct it."""
    ratios = []
    for h in range(labels.shape[1]):
        harmful = NB_SMOOTHING + np.asarray(train[labels[:, h] == 1].sum(axis=0)).ravel()
        harmless = NB_SMOOTHING + np.asarray(train[labels[:, h] == 0].sum(axis=0)).ravel()
        ratios.append(np.log(harmful / harmful.sum()) - np.log(harmless / harmless.sum()))
    return np.stack(ratios)


def fit_term_logistic(
    data: TaskData, weigh: Callable[[sparse.csr_matrix, np.ndarray], np.ndarray]
) -> LinearFit:
    """One logistic regression per head over ``TermLogistic``'s features, with the id weights
    ``weigh`` gives (``idf_weights`` or ``log_count_ratios``) and the C of ``LINEAR_C`` with the
    best validation PR-AUC. Fitted on the whole train emails, not the short windows."""
    started = time.monotonic()
    buckets = data.meta["featurizer"]["buckets"]
    emails = data.train["segment"] == 0
    train, val = presence(data.train["tokens"][emails], buckets), presence(data.val["tokens"], buckets)
    labels = data.train["labels"][emails]
    weights = weigh(train, labels)
    classifiers, chosen = [], []
    for h in range(labels.shape[1]):
        x_train, x_val = (normalize(sparse.csr_matrix(x.multiply(weights[h]))) for x in (train, val))
        fitted = [LogisticRegression(C=c, max_iter=2000).fit(x_train, labels[:, h]) for c in LINEAR_C]
        scores = [pr_auc(data.val["labels"][:, h], model.decision_function(x_val)) for model in fitted]
        best = int(np.argmax(scores))
        classifiers.append(fitted[best])
        chosen.append(LINEAR_C[best])
    module = TermLogistic(
        torch.from_numpy(weights),
        torch.from_numpy(np.concatenate([c.coef_ for c in classifiers])),
        torch.from_numpy(np.concatenate([c.intercept_ for c in classifiers])),
    )
    return LinearFit(module, chosen, time.monotonic() - started)


def stack_on_validation(network: nn.Module, data: TaskData, linear: TermLogistic) -> StackedClassifier:
    """The network plus the linear model, with the network's share that gives the best validation
    PR-AUC (never 0 or 1: a stack that drops a half is not a stack)."""
    network_logits, linear_logits = logits(network, data.val["tokens"]), logits(linear, data.val["tokens"])
    scales = (float(network_logits.std()), float(linear_logits.std()))
    labels = data.val["labels"]

    def val_pr_auc(weight: float) -> float:
        mixed = weight * network_logits / scales[0] + (1 - weight) * linear_logits / scales[1]
        return float(np.mean([pr_auc(labels[:, h], mixed[:, h]) for h in range(labels.shape[1])]))

    return StackedClassifier(network, linear, scales, max(NETWORK_WEIGHTS, key=val_pr_auc))


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


def add_short_text_thresholds(
    thresholds: dict[str, dict[str, Any]],
    model: nn.Module,
    val_texts: list[str],
    val_labels: np.ndarray,
    featurizer: dict[str, Any],
) -> None:
    """Per head: texts under ``SHORT_TEXT_WORDS`` words are never blocked (the block precision was
    measured on emails, not on one-liners) and go to review only above both the email review
    threshold and the score that flags ``SHORT_HARMLESS_FLAGGED`` of short windows (1 to
    ``SEGMENT_WORDS`` words) cut from the harmless validation emails."""
    rng = np.random.default_rng(ModerationTask.default_config["seed"])
    windows = [short_segments(text, SHORT_WINDOWS_PER_EMAIL, SEGMENT_WORDS, rng) for text in val_texts]
    scores = predict(model, featurize([w for text in windows for w in text], FeaturizerConfig(**featurizer)))
    labels = np.repeat(val_labels, SHORT_WINDOWS_PER_EMAIL, axis=0)
    for h, point in enumerate(thresholds.values()):
        harmless = scores[labels[:, h] == 0, h]
        point["short_words"] = SHORT_TEXT_WORDS
        flag_above = float(np.quantile(harmless, 1.0 - SHORT_HARMLESS_FLAGGED))
        point["short_review"] = max(flag_above, float(point["review"]))


def short_message_check(
    model: nn.Module, thresholds: dict[str, dict[str, Any]], featurizer: dict[str, Any]
) -> dict[str, float]:
    """Share of the hand-written benign lines allowed, and of the harmful ones flagged (review or
    block) or blocked, by the strictest head, through serving's normalisation and short-text rule."""
    labels, texts = zip(*read_short_messages(), strict=True)
    config = FeaturizerConfig(**featurizer)
    normalized = [normalize_email(text, config.max_chars) for text in texts]
    scores = predict(model, featurize(normalized, config))
    words = np.array([len(text.split()) for text in normalized])
    decisions = decide(scores, words, thresholds, list(thresholds))
    flagged, blocked = decisions != "allow", decisions == "block"
    benign, harmful = np.array(labels) == "benign", np.array(labels) == "harmful"
    return {
        "short_benign_allowed": float(np.mean(~flagged[benign])),
        "short_benign_blocked": float(np.mean(blocked[benign])),
        "short_harmful_flagged": float(np.mean(flagged[harmful])),
        "short_harmful_blocked": float(np.mean(blocked[harmful])),
    }
