"""Moderation learning from feedback: labelled rows join the train split, the recent window is
kept aside with the serving version's scores, and both are measured on it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from modelyard.errors import UsageError
from training.base import TaskData
from training.feedback import labelled_table, read_labelled, write_labelled
from training.moderation.preprocess import FeaturizerConfig, featurize, token_ids
from training.moderation.task import ModerationTask, recent_window_metrics
from training.visual_search.task import VisualSearchTask

CONFIG = FeaturizerConfig()


def corpus_data() -> TaskData:
    texts = ["cheap pills now", "meeting at noon", "win a lottery", "lunch tomorrow"]
    part = {
        "tokens": featurize(texts, CONFIG),
        "labels": np.array([[1], [0], [1], [0]], np.float32),
        "segment": np.zeros(4, np.int8),
    }
    meta = {"heads": ["spam"], "featurizer": asdict(CONFIG)}
    return TaskData(train=part, val=part, test=part, digest="sha256:corpus", meta=meta)


def feedback_file(tmp_path: Path) -> Path:
    rows = {
        "request_id": ["r1", "r2", "r3", "r4", "r5"],
        "text": ["verify your wallet urltoken", "see you at numtoken", "parcel fee due", "ok thanks", "hi"],
        "label": [1, 0, 1, 0, 0],
        "part": ["train", "train", "recent", "recent", "recent"],
        "served_version": ["1"] * 5,
        "served_score": [0.3, 0.1, 0.2, 0.4, 0.1],
    }
    return write_labelled(tmp_path / "feedback.parquet", labelled_table(rows))


def test_train_rows_are_appended_and_recent_rows_are_not(tmp_path: Path) -> None:
    data = corpus_data()
    fed = ModerationTask().with_feedback(data, read_labelled(feedback_file(tmp_path)))
    assert len(fed.train["tokens"]) == 6 and fed.train["labels"].sum() == 3
    wallet = featurize(["verify your wallet urltoken"], CONFIG)[0]
    assert any((row == wallet).all() for row in fed.train["tokens"])
    parcel = featurize(["parcel fee due"], CONFIG)[0]
    assert not any((row == parcel).all() for row in fed.train["tokens"])
    assert fed.recent is not None and fed.recent["labels"][:, 0].tolist() == [1, 0, 0]
    assert fed.recent["served_scores"].tolist() == [0.2, 0.4, 0.1]
    assert fed.meta["feedback"]["train_rows"] == 2 and fed.meta["feedback"]["recent_rows"] == 3
    assert fed.test is data.test and fed.digest == data.digest  # the held-out set is the champion's


class WordDetector(nn.Module):
    """Scores a text high when it holds ``word``: a stand-in whose PR-AUC is known."""

    def __init__(self, word: str) -> None:
        super().__init__()
        self.register_buffer("word_id", torch.tensor(token_ids(word, CONFIG)[0]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens == self.word_id).any(dim=1, keepdim=True).float() * 10 - 5


def test_recent_window_measures_candidate_and_serving_version(tmp_path: Path) -> None:
    fed = ModerationTask().with_feedback(corpus_data(), read_labelled(feedback_file(tmp_path)))
    metrics = recent_window_metrics(WordDetector("parcel"), fed.recent)
    assert metrics["recent_rows"] == 3
    assert metrics["recent_pr_auc"] == pytest.approx(1.0)  # finds the one harmful line
    assert metrics["recent_champion_pr_auc"] == pytest.approx(0.5)  # served 0.2 < 0.4 for a benign one


def test_a_one_class_window_has_no_pr_auc() -> None:
    recent = {"tokens": featurize(["a", "b"], CONFIG), "labels": np.zeros((2, 1), np.float32)}
    recent["served_scores"] = np.array([0.1, 0.2])
    assert recent_window_metrics(WordDetector("a"), recent) == {"recent_rows": 2.0}


def test_models_without_labelled_feedback_say_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be retrained on feedback"):
        VisualSearchTask().with_feedback(corpus_data(), read_labelled(feedback_file(tmp_path)))
