"""``yard train visual-search --smoke`` on a real local Ray (2 workers) and a real MLflow (sqlite):
a registered, gated version with its Triton repository and report, then a resumed job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from modelyard.artifact.layout import CONFIG_FILE, TORCHSCRIPT_FILE
from modelyard.registry import Registry, decide_promotion
from modelyard.settings import Settings, get_settings
from training.metrics.retrieval import evaluate_retrieval
from training.visual_search.task import VisualSearchTask, catalogue_images, catalogue_labels
from yard.main import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "visual-search"
ENCODER = "visual-search-encoder"
HEADLINE = VisualSearchTask.headline_metric


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELYARD_STATE_DIR", str(tmp_path_factory.mktemp("yard-state")))
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


def yard_train(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["train", MODEL, "--smoke", "--workers", "2", "--json", *args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def first(settings: Settings) -> dict[str, Any]:
    return yard_train()


def random_embedding_precision(settings: Settings) -> float:
    """precision@10 of a trivial predictor (random embeddings) on the same smoke data."""
    data = VisualSearchTask().prepare(settings, smoke=True)
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(len(data.test["label"]), 128, generator=generator)
    catalogue = torch.randn(len(catalogue_labels(data)), 128, generator=generator)
    metrics, _ = evaluate_retrieval(queries, data.test["label"], catalogue, catalogue_labels(data), 10, 10)
    assert len(catalogue_images(data)) == len(catalogue)
    return metrics[HEADLINE]


def test_first_version_is_champion_and_beats_a_trivial_predictor(settings: Settings, first: dict) -> None:
    assert (first["version"], first["alias"]) == (1, "champion")
    assert first["metrics"][HEADLINE] > random_embedding_precision(settings) + 0.2
    assert set(first["baseline"]) == set(first["metrics"])
    assert first["epochs"] == VisualSearchTask.default_config["epochs"]


def test_version_carries_triton_repository_report_and_lineage(
    settings: Settings, first: dict, tmp_path: Path
) -> None:
    registry = Registry(settings)
    folder = registry.download(f"{MODEL}/1", tmp_path)
    assert (folder / "model_repository" / ENCODER / CONFIG_FILE).is_file()
    for name in (
        "preprocessing.json",
        "signature.json",
        "config.json",
        "eval/report.json",
        "eval/report.png",
    ):
        assert (folder / name).is_file(), name
    report = json.loads((folder / "eval/report.json").read_text())
    assert report["metrics"][HEADLINE] == pytest.approx(first["metrics"][HEADLINE])
    epochs = VisualSearchTask.default_config["epochs"]
    assert [row["epoch"] for row in report["history"]] == list(range(1, epochs + 1))

    encoder = torch.jit.load(str(folder / "model_repository" / ENCODER / "1" / TORCHSCRIPT_FILE))
    images = torch.rand(5, 1, 28, 28)
    embeddings = encoder(images)
    assert embeddings.shape == (5, 128)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(5), atol=1e-5)

    version = registry.resolve(f"{MODEL}/1")
    digest = json.loads((folder / "config.json").read_text())["dataset_digest"]
    assert version.tags["modelyard.dataset_digest"] == digest
    history = registry.client.get_metric_history(version.run_id, "train_loss")
    assert sorted(m.step for m in history) == list(range(1, epochs + 1))
    assert version.metrics[f"baseline_{HEADLINE}"] == pytest.approx(first["baseline"][HEADLINE])


def test_gate_then_resume_from_the_last_checkpoint(settings: Settings, first: dict) -> None:
    one_epoch = yard_train("--batch-size", "128", "--epochs", "1")
    assert (one_epoch["version"], one_epoch["epochs"], one_epoch["resumed_from_epoch"]) == (2, 1, 0)
    expected = decide_promotion(one_epoch["metrics"][HEADLINE], first["metrics"][HEADLINE], True, 0.0)
    assert one_epoch["alias"] == expected.alias

    # Same model and config, more epochs: the job continues after epoch 1 instead of starting over.
    two_epochs = yard_train("--batch-size", "128", "--epochs", "2", "--tolerance", "1.0")
    assert (two_epochs["version"], two_epochs["epochs"], two_epochs["resumed_from_epoch"]) == (3, 2, 1)
    assert two_epochs["alias"] == "challenger"

    versions = {v.version: v for v in Registry(settings).versions(MODEL)}
    assert "champion" in versions[1].aliases
    assert "challenger" in versions[3].aliases
    assert np.isfinite(versions[3].metrics["train_loss"])
