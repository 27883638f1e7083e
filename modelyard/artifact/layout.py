"""The files of a version folder, as training writes them and every reader expects them::

<version>/                     the MLflow run's ``model`` artifact folder
  model_repository/<triton model>/config.pbtxt
  model_repository/<triton model>/1/{model.py, model.pt}
  preprocessing.json           how serving turns a request into the model's input tensors
  signature.json               each Triton model's tensors and max batch size
  config.json                  the training config of the run
  thresholds.json              decision thresholds (models that decide)
  profile.json                 the reference profile drift is measured against (monitoring)
  item_vectors.npy             the catalogue's retrieval vectors the index is built from (ranking)
  eval/report.json, eval/report.png
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import DataError

MLFLOW_ARTIFACT_PATH = "model"
"""The run artifact folder a version is registered from (and downloaded into)."""
MODEL_REPOSITORY = "model_repository"
SOURCE_VERSION = "1"
"""The version folder training writes for every Triton model (serving renumbers it)."""
CONFIG_FILE = "config.pbtxt"
CONFIG_VARIANTS = "configs"
"""Triton's folder of named config variants (``--model-config-name``)."""
MODEL_FILE = "model.py"
TORCHSCRIPT_FILE = "model.pt"
PREPROCESSING_FILE = "preprocessing.json"
SIGNATURE_FILE = "signature.json"
TRAINING_CONFIG_FILE = "config.json"
THRESHOLDS_FILE = "thresholds.json"
PROFILE_FILE = "profile.json"
"""Samples of the validation split's signals (``training.profile``), which ``yard monitor`` tests
logged traffic against."""
ITEM_VECTORS_FILE = "item_vectors.npy"
"""float32 [items, dim], rows in preprocessing.json's ``catalogue`` order: what ``yard index`` puts
in Qdrant for a model whose vectors are not the output of one of its Triton models (ranking)."""
REPORT_FILE = "eval/report.json"
PLOT_FILE = "eval/report.png"
REQUIRED_FILES = (PREPROCESSING_FILE, SIGNATURE_FILE)
_TORCHSCRIPT_SUFFIX = Path(TORCHSCRIPT_FILE).suffix
"""What every version holds besides its Triton models."""


def version_root(folder: Path) -> Path:
    """The version folder inside ``folder``: a download holds it as ``model/``, an export is it."""
    folder = Path(folder)
    nested = folder / MLFLOW_ARTIFACT_PATH
    return nested if (nested / PREPROCESSING_FILE).is_file() else folder


def torchscript_path(root: Path, triton_model: str) -> Path:
    """The TorchScript file training wrote for one Triton model of the version at ``root``."""
    return root / MODEL_REPOSITORY / triton_model / SOURCE_VERSION / TORCHSCRIPT_FILE


@dataclass(frozen=True)
class VersionArtifacts:
    """One registered version's files, downloaded (the MLflow artifact folder ``model``)."""

    model: str
    version: int
    root: Path

    @property
    def label(self) -> str:
        return f"{self.model} version {self.version}"

    @property
    def repair_hint(self) -> str:
        """What to do about a version whose files are broken or gone."""
        return f"re-register it (yard train {self.model}) or point the champion at another version"

    @property
    def model_repository(self) -> Path:
        return self.root / MODEL_REPOSITORY

    def triton_models(self) -> list[str]:
        """The Triton models this version ships (folders holding a config)."""
        return list_models(self.model_repository)


def list_models(repository: Path) -> list[str]:
    """Names of the models (folders with a ``config.pbtxt``) in a Triton repository."""
    return sorted(p.parent.name for p in Path(repository).glob(f"*/{CONFIG_FILE}"))


def check_artifacts(artifacts: VersionArtifacts) -> list[str]:
    """The version's Triton model names, or a DataError naming the version and the broken file."""
    hint = artifacts.repair_hint
    names = artifacts.triton_models()
    if not names:
        raise DataError(
            f"{artifacts.label} has no Triton model under {artifacts.model_repository}", hint=hint
        )
    for name in names:
        model_dir = artifacts.model_repository / name
        files = sorted(p for p in (model_dir / SOURCE_VERSION).rglob("*") if p.is_file())
        if not files:
            raise DataError(f"{artifacts.label}: {model_dir / SOURCE_VERSION} holds no files", hint=hint)
        for path in [model_dir / CONFIG_FILE, *files]:
            if path.stat().st_size == 0 or (
                path.suffix == Path(TORCHSCRIPT_FILE).suffix and not zipfile.is_zipfile(path)
            ):
                raise DataError(f"{artifacts.label}: {path} is empty or corrupt", hint=hint)
    return names
