"""``moderation --smoke`` through the framework's runner on a real local Ray (2 workers) and a real
MLflow (sqlite): a registered version that beats a trivial predictor, with its thresholds stored
beside the model, a TorchScript export that reproduces the registered metric, and the version
published to a ``file://`` model store as KServe would read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from modelyard.artifact.layout import TORCHSCRIPT_FILE, list_models
from modelyard.registry import Registry
from modelyard.settings import Settings, get_settings
from training.metrics.classification import pr_auc
from training.moderation.preprocess import FeaturizerConfig, featurize, normalize_email
from training.moderation.task import BLOCK_PRECISION, REVIEW_RECALL, SHORT_TEXT_WORDS, ModerationTask
from training.options import TrainOptions
from training.runner import TrainOutcome, train

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "moderation"
SMOKE_SHORT_FLAGGED = 0.7
SMOKE_SHORT_ALLOWED = 0.7
"""Floors for a model trained on 1,500 emails, well below what it measured (see the report)."""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> Iterator[Settings]:
    sources = Settings().sources_dir  # the project's unpacked source packages (SpamAssassin)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELYARD_STATE_DIR", str(tmp_path_factory.mktemp("yard-state")))
        patch.setenv("MODELYARD_SOURCES_DIR", str(sources))
        patch.setenv("MODELYARD_MODEL_STORE_URI", tmp_path_factory.mktemp("model-store").as_uri())
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def outcome(settings: Settings) -> TrainOutcome:
    options = TrainOptions(workers=2, smoke=True, show_progress=False)
    return train(MODEL, options, settings, Console(stderr=True))


@pytest.fixture(scope="module")
def version_folder(
    settings: Settings, outcome: TrainOutcome, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return Registry(settings).download(f"{MODEL}/{outcome.version}", tmp_path_factory.mktemp("version"))


def test_registered_version_beats_a_trivial_predictor(settings: Settings, outcome: TrainOutcome) -> None:
    base_rate = ModerationTask().prepare(settings, smoke=True).meta["positive_rate"]["test"]
    # A constant (or random) score has PR-AUC equal to the base rate.
    assert outcome.metrics["pr_auc"] > base_rate + 0.3
    assert outcome.metrics["roc_auc"] > 0.9
    assert set(outcome.baseline) < set(outcome.metrics)  # the model adds the short-message check
    assert outcome.version == 1 and outcome.alias == "champion"


def test_training_publishes_the_version_for_kserve(settings: Settings, outcome: TrainOutcome) -> None:
    assert outcome.storage_uri == f"{settings.model_store_uri}/{MODEL}/{outcome.version}"
    root = Path(settings.model_store_uri.removeprefix("file://")) / MODEL / str(outcome.version)
    assert list_models(root) == [MODEL]
    assert (root / MODEL / str(outcome.version) / TORCHSCRIPT_FILE).is_file()


def test_thresholds_are_stored_with_the_version(version_folder: Path) -> None:
    heads = json.loads((version_folder / "preprocessing.json").read_text())["heads"]
    thresholds = json.loads((version_folder / "thresholds.json").read_text())
    assert list(thresholds) == heads == ["spam"]
    for head in heads:
        point = thresholds[head]
        assert 0.0 <= point["review"] <= 1.0
        assert point["val_recall_at_review"] >= REVIEW_RECALL
        if point["block"] is not None:
            assert point["review"] <= point["block"] <= 1.0
            assert point["val_precision_at_block"] >= BLOCK_PRECISION
        assert point["short_words"] == SHORT_TEXT_WORDS
        assert point["review"] <= point["short_review"] <= 1.0


def test_short_messages_are_scored_and_never_blocked(outcome: TrainOutcome) -> None:
    """The hand-written one-liners (training/moderation/short_messages.tsv) through the trained
    smoke model and the short-text rule: none is blocked, obvious spam is mostly flagged and
    benign lines mostly allowed (full-data numbers: docs/models.md)."""
    metrics = outcome.metrics
    assert metrics["short_benign_blocked"] == metrics["short_harmful_blocked"] == 0.0
    assert metrics["short_harmful_flagged"] >= SMOKE_SHORT_FLAGGED
    assert metrics["short_benign_allowed"] >= SMOKE_SHORT_ALLOWED


def test_exported_scorer_reproduces_the_registered_metric(
    settings: Settings, outcome: TrainOutcome, version_folder: Path
) -> None:
    preprocessing = json.loads((version_folder / "preprocessing.json").read_text())
    config = FeaturizerConfig(**preprocessing["featurizer"])
    scorer = torch.jit.load(str(version_folder / "model_repository" / MODEL / "1" / TORCHSCRIPT_FILE))
    data = ModerationTask().prepare(settings, smoke=True)
    with torch.no_grad():
        scores = scorer(torch.from_numpy(data.test["tokens"])).numpy()
    assert scores.shape == (len(data.test["tokens"]), len(preprocessing["heads"]))
    assert pr_auc(data.test["labels"][:, 0], scores[:, 0]) == pytest.approx(
        outcome.metrics["pr_auc"], abs=1e-6
    )

    # The serving path from a raw email: normalise, featurise with the stored config, score.
    raw = "Subject: FREE money!!!\n\nClick http://win.example.com now to claim $1000000 cash, act now!"
    tokens = featurize([normalize_email(raw, config.max_chars)], config)
    with torch.no_grad():
        probability = scorer(torch.from_numpy(tokens))
    assert probability.shape == (1, 1) and 0.0 <= float(probability) <= 1.0
    assert np.isfinite(scores).all()
