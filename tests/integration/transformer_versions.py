"""Real, tiny model versions for the transformer tests, exported the way training exports them.

Each model is the training task's own architecture at a small size (untrained: the tests check
plumbing, not quality), exported by the task's own ``export()`` into a version folder with
``training.export.write_version`` - the same files a registered version carries.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelyard.artifact.layout import ITEM_VECTORS_FILE
from modelyard.artifact.model_repository import write_model_repository
from modelyard.data import load
from modelyard.settings import Settings
from training.base import ExportedModel, TaskData
from training.export import write_version
from training.moderation.task import ModerationTask
from training.ranking.task import RankingTask, fit_item_vectors
from training.visual_search.task import VisualSearchTask

MODERATION_THRESHOLDS = {
    "spam": {"block": 0.6, "review": 0.4, "val_precision_at_block": 1.0, "val_recall_at_review": 1.0}
}


def _export(out: Path, exported: list[ExportedModel], preprocessing: dict, artifacts: dict[str, Any]) -> Path:
    write_version(
        out, exported, preprocessing, config={"test": True}, report={"metrics": {}}, artifacts=artifacts
    )
    return out


def visual_search_version(out: Path, settings: Settings) -> tuple[Path, list[ExportedModel]]:
    torch.manual_seed(0)
    task = VisualSearchTask()
    fm = load("fashion-mnist", settings)
    data = TaskData(
        train={},
        val={},
        test={"image": fm.test_images[:32], "label": fm.test_labels[:32].astype(np.int64)},
        digest=fm.digest,
        meta={"classes": list(fm.classes), "image_shape": [28, 28]},
    )
    config = {**task.default_config, "width": 4, "embedding_dim": 16}
    exported, preprocessing = task.export(task.build_model(config, data.meta), data, config)
    return _export(out, exported, preprocessing, {}), exported


def moderation_version(out: Path) -> tuple[Path, list[ExportedModel]]:
    torch.manual_seed(0)
    task = ModerationTask()
    meta = {"heads": ["spam"], "featurizer": asdict(task.featurizer)}
    data = TaskData(train={}, val={}, test={}, digest="test", meta=meta)
    config = {**task.default_config, "embedding_dim": 8, "hidden_dim": 8}
    exported, preprocessing = task.export(task.build_model(config, meta), data, config)
    return _export(out, exported, preprocessing, {"thresholds": MODERATION_THRESHOLDS}), exported


def ranking_version(out: Path, settings: Settings) -> tuple[Path, list[ExportedModel]]:
    torch.manual_seed(0)
    task = RankingTask()
    data = task.prepare(settings, smoke=True)
    config = {**task.default_config, "embedding_dim": 4, "tower_hidden": 8, "tower_dim": 8, "deep": [8]}
    exported, preprocessing = task.export(task.build_model(config, data.meta), data, config)
    vectors, _ = fit_item_vectors(data)
    return _export(out, exported, preprocessing, {Path(ITEM_VECTORS_FILE).stem: vectors}), exported


def serve_versions(root: Path, exported: list[ExportedModel], version: int) -> None:
    """The serving convention: Triton version number == MLflow version number."""
    for model in exported:
        write_model_repository(
            root,
            model.name,
            model.module,
            model.inputs,
            model.outputs,
            max_batch_size=model.max_batch_size,
            version=version,
        )
