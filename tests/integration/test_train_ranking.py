"""``ranking --smoke`` through the framework's runner on a real local Ray (2 workers) and a real
MLflow (sqlite): a registered version whose click model beats a coin, whose served retrieval (item
vectors the version carries, searched by the user's history vector) retrieves as EASE does, and
whose one Triton model, the click model (the towers trained beside it are not exported), runs from
the stored preprocessing.json alone, which also carries the titles, genres and histories the
transformer answers with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from sklearn.metrics import roc_auc_score

from embeddings.sources import RankingItemSource
from modelyard.artifact.layout import ITEM_VECTORS_FILE, TORCHSCRIPT_FILE
from modelyard.registry import Registry
from modelyard.settings import Settings, get_settings
from training.options import TrainOptions
from training.ranking.features import FeatureSpec, ctr_feature_ids
from training.ranking.history import parse_history_table
from training.ranking.lookups import Lookups
from training.ranking.task import RETRIEVAL_K, RankingTask, ctr_columns
from training.runner import TrainOutcome, train

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "ranking"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELYARD_STATE_DIR", str(tmp_path_factory.mktemp("yard-state")))
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


def load_model(folder: Path, name: str) -> torch.jit.ScriptModule:
    return torch.jit.load(str(folder / "model_repository" / name / "1" / TORCHSCRIPT_FILE))


def test_registered_version_beats_trivial_predictors(outcome: TrainOutcome) -> None:
    assert outcome.metrics["auc"] > 0.6  # a constant or random score has AUC 0.5
    assert outcome.metrics["nce"] < 1.0  # better than predicting the training click rate
    assert outcome.metrics[f"tower_recall_at_{RETRIEVAL_K}"] > 0.1  # the auxiliary towers learn
    served = outcome.metrics[f"recall_at_{RETRIEVAL_K}"]
    assert served > outcome.baseline[f"recall_at_{RETRIEVAL_K}"]  # beats the most popular items
    # the served vectors are EASE's, searched by cosine: the same recall up to float32 ties
    assert served == pytest.approx(outcome.baseline[f"ease_recall_at_{RETRIEVAL_K}"], abs=0.005)
    assert outcome.metrics["retrieval_l2"] == outcome.baseline["ease_setting"]
    own = {f"tower_recall_at_{RETRIEVAL_K}", "retrieval_l2", "retrieval_seconds"}
    assert set(outcome.metrics) - own <= set(outcome.baseline)
    for baseline in ("ease", "item_knn"):  # item-item retrieval baselines, scored like the served stage
        assert 0.0 < outcome.baseline[f"{baseline}_recall_at_{RETRIEVAL_K}"] <= 1.0
        assert outcome.baseline[f"{baseline}_seconds"] > 0.0
    assert outcome.version == 1 and outcome.alias == "champion"


def test_exported_click_model_reproduces_the_registered_auc(
    settings: Settings, outcome: TrainOutcome, version_folder: Path
) -> None:
    data = RankingTask().prepare(settings, smoke=True)
    features = ctr_columns(data.test)
    with torch.no_grad():
        probability = load_model(version_folder, "ranking-ctr")(torch.from_numpy(features)).numpy()
    assert probability.shape == (len(features), 1)
    assert roc_auc_score(data.test["label"], probability[:, 0]) == pytest.approx(
        outcome.metrics["auc"], abs=1e-6
    )


def test_the_click_model_is_the_only_triton_model_and_runs_from_preprocessing_json_alone(
    version_folder: Path,
) -> None:
    assert sorted(p.name for p in (version_folder / "model_repository").iterdir()) == ["ranking-ctr"]
    preprocessing = json.loads((version_folder / "preprocessing.json").read_text())
    spec = FeatureSpec.from_json(preprocessing["feature_spec"])
    histories = parse_history_table(spec, preprocessing["history"])
    users, items, now = [1, 2, 999_999], [50, 181, 999_999], [893_286_638] * 3  # incl. unknown ids
    with torch.no_grad():
        clicks = load_model(version_folder, "ranking-ctr")(
            torch.from_numpy(ctr_feature_ids(spec, users, items, now, histories))
        )
    assert clicks.shape == (3, 1) and bool(((clicks > 0) & (clicks < 1)).all())
    assert len(spec.popular_items) >= RETRIEVAL_K


def test_version_carries_titles_genres_and_every_interaction_it_had(
    settings: Settings, version_folder: Path
) -> None:
    preprocessing = json.loads((version_folder / "preprocessing.json").read_text())
    lookups = Lookups.from_preprocessing(preprocessing)
    assert sorted(lookups.titles) == sorted(lookups.genres) == preprocessing["catalogue"]
    assert all(lookups.titles.values()) and lookups.genres[1] == ("Animation", "Children's", "Comedy")
    data = RankingTask().prepare(settings, smoke=True)
    parts = (data.train, data.val, data.test)
    had = {(u, i) for p in parts for u, i in zip(p["user_id"].tolist(), p["item_id"].tolist(), strict=True)}
    assert {(user, item) for user, items in lookups.seen.items() for item in items} == had


def test_index_source_reads_the_versions_item_vectors(settings: Settings, version_folder: Path) -> None:
    preprocessing = json.loads((version_folder / "preprocessing.json").read_text())
    vectors = np.load(version_folder / ITEM_VECTORS_FILE)
    catalogue = preprocessing["catalogue"]
    assert vectors.shape == (len(catalogue), len(catalogue) + 1) and vectors.dtype == np.float32
    source = RankingItemSource(version_folder, settings, batch_size=400)
    assert source.dim() == len(catalogue) + 1
    ids, embedded, payloads = next(source.batches())
    assert embedded == pytest.approx(vectors[[catalogue.index(i) for i in ids]])
    assert len(ids) == len(payloads) == 400 and payloads[0]["title"]
