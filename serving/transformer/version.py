"""One served model version as one object: its files, its Triton models and their pinned version.

A transformer answers for exactly the ``VersionState`` it loaded; keeping everything a version
needs in one value is what lets a process hold two of them later (canary) without mixing a
version's thresholds or preprocessing with another's Triton models.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.artifact.layout import (
    PREPROCESSING_FILE,
    REQUIRED_FILES,
    SIGNATURE_FILE,
    THRESHOLDS_FILE,
    version_root,
)
from modelyard.errors import DataError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)

"""Registered versions keep their files under the MLflow artifact path ``model/``."""
CACHE_COMPLETE = ".complete"


@dataclass(frozen=True)
class VersionState:
    """Everything one version needs at request time (read once, never mutated)."""

    model: str
    """Registered model name, e.g. ``moderation``; also the name clients call."""
    version: int
    """MLflow version number, equal to the Triton version number in the serving repository."""
    artifact_dir: Path
    preprocessing: dict[str, Any]
    signature: dict[str, Any]
    """Triton model name -> {inputs, outputs, max_batch_size} (signature.json)."""
    thresholds: dict[str, Any] | None = None
    """thresholds.json, for models that decide (moderation)."""

    @property
    def triton_version(self) -> str:
        """The serving convention: Triton model version == MLflow version."""
        return str(self.version)

    @property
    def triton_models(self) -> list[str]:
        return sorted(self.signature)

    def require_triton_model(self, name: str) -> str:
        if name not in self.signature:
            raise DataError(
                f"{self.model} v{self.version} has no Triton model {name!r} (it has {self.triton_models})",
                hint="the version was exported by another task; serve the model it was trained for",
            )
        return name


def read_version_state(model: str, version: int, artifact_dir: Path) -> VersionState:
    """Read a version folder (the registered ``model/`` folder, or its parent)."""
    root = version_root(Path(artifact_dir).expanduser().resolve())
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise DataError(
            f"{root} has no {', '.join(missing)}: not a {model} version folder",
            hint="pass the folder a training run exported (it holds preprocessing.json and signature.json)",
        )
    thresholds = root / THRESHOLDS_FILE
    return VersionState(
        model=model,
        version=version,
        artifact_dir=root,
        preprocessing=_read_json(root / PREPROCESSING_FILE),
        signature=_read_json(root / SIGNATURE_FILE),
        thresholds=_read_json(thresholds) if thresholds.is_file() else None,
    )


def resolve_version_state(
    settings: Settings,
    model: str,
    *,
    version: int | None = None,
    alias: str | None = None,
    artifact_dir: Path | None = None,
) -> VersionState:
    """The version to serve: from ``artifact_dir`` (needs ``version``), else from the registry.

    Registry downloads are cached under ``<state_dir>/transformer/<model>/<version>``: a
    version's files never change, so a restart does not download them again.
    """
    if (version is None) == (alias is None):
        raise UsageError("give exactly one of --version N or --alias NAME", hint="e.g. --alias champion")
    if artifact_dir is not None:
        if version is None:
            raise UsageError(
                "--artifact_dir needs --version N (a folder does not know its version)",
                hint="pass the MLflow version number the folder was registered as",
            )
        return read_version_state(model, version, artifact_dir)
    # lazy: the registry loads mlflow (seconds); only this path needs it
    from modelyard.registry import Registry

    registry = Registry(settings)
    resolved = registry.resolve(f"{model}@{alias}" if alias else f"{model}/{version}")
    cache = settings.state_dir / "transformer" / model / str(resolved.version)
    if not (cache / CACHE_COMPLETE).is_file():
        local = registry.download(resolved.uri, cache / "files")
        (cache / CACHE_COMPLETE).write_text(str(local))
        event(log, "version_downloaded", model=model, version=resolved.version, path=str(local))
    return read_version_state(model, resolved.version, Path((cache / CACHE_COMPLETE).read_text()))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"cannot read {path}: {error}", hint="re-export or re-download the version"
        ) from error
