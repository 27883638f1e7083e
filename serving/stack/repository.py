"""Assemble the serving Triton model repository from registered versions.

Training writes each Triton model of a version as version ``1`` of its own small repository
(``<artifact>/model_repository/<triton model>/{config.pbtxt,1/...}``). Serving renumbers:
the Triton version number IS the MLflow version number, so ``<serve repo>/<triton model>/<N>/``
holds MLflow version N and the config's ``version_policy`` lists exactly the versions served
(a canary adds a second one). Every artifact is checked before anything is written, so a
broken version fails with its name and the folders of the version already serving stay intact.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import DataError, UsageError
from modelyard.fsutil import write_text_atomically

MODEL_REPOSITORY = "model_repository"
CONFIG_FILE = "config.pbtxt"
SOURCE_VERSION = "1"
"""The version folder training writes for every Triton model."""
TORCHSCRIPT_SUFFIX = ".pt"


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
        return sorted(p.parent.name for p in self.model_repository.glob(f"*/{CONFIG_FILE}"))


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
                path.suffix == TORCHSCRIPT_SUFFIX and not zipfile.is_zipfile(path)
            ):
                raise DataError(f"{artifacts.label}: {path} is empty or corrupt", hint=hint)
    return names


def assemble(serve_root: Path, served: Sequence[VersionArtifacts]) -> dict[str, list[int]]:
    """Make ``serve_root`` serve exactly ``served``; returns ``{triton model: [versions]}``.

    Idempotent. Several versions of one registered model may be served together (a canary);
    they must ship the same Triton models, and the newest version's config wins.
    """
    by_triton_model: dict[str, list[VersionArtifacts]] = defaultdict(list)
    for artifacts in served:
        for name in check_artifacts(artifacts):
            by_triton_model[name].append(artifacts)
    for name, versions in by_triton_model.items():
        numbers = [a.version for a in versions]
        if len(set(numbers)) != len(numbers):
            raise UsageError(f"Triton model {name!r} is asked for twice in versions {numbers}", hint="dedupe")
    for name, versions in by_triton_model.items():
        _install_model(Path(serve_root) / name, name, sorted(versions, key=lambda a: a.version))
    return {name: sorted(a.version for a in versions) for name, versions in sorted(by_triton_model.items())}


def served_versions(serve_root: Path, triton_model: str) -> list[int]:
    """The versions a model's serving folder holds (what Triton may load)."""
    model_dir = Path(serve_root) / triton_model
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def render_version_policy(versions: Sequence[int]) -> str:
    numbers = ", ".join(str(v) for v in sorted(versions))
    return f"version_policy: {{ specific: {{ versions: [ {numbers} ] }} }}"


def with_version_policy(config: str, versions: Sequence[int]) -> str:
    """``config`` (pbtxt) with its ``version_policy`` replaced by one serving ``versions``."""
    block = _find_block(config, "version_policy")
    policy = render_version_policy(versions)
    if block is not None:
        return config.replace(block, policy)
    return config.rstrip("\n") + "\n" + policy + "\n"


def _install_model(model_dir: Path, name: str, versions: list[VersionArtifacts]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    for artifacts in versions:
        _replace_dir(artifacts.model_repository / name / SOURCE_VERSION, model_dir / str(artifacts.version))
    wanted = {str(a.version) for a in versions}
    for stale in (p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and p.name not in wanted):
        shutil.rmtree(stale)
    newest = versions[-1].model_repository / name / CONFIG_FILE
    config = with_version_policy(newest.read_text(), [a.version for a in versions])
    write_text_atomically(model_dir / CONFIG_FILE, config)


def _replace_dir(source: Path, target: Path) -> None:
    """Copy beside the target, then swap: a reader never sees half a version folder."""
    staging = target.with_name(f".{target.name}.staging")
    retired = target.with_name(f".{target.name}.retired")
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _find_block(text: str, field: str) -> str | None:
    """The whole ``field { ... }`` (or ``field: { ... }``) text, braces balanced."""
    start = 0
    while (start := text.find(field, start)) != -1:
        opening = text.find("{", start)
        between = text[start + len(field) : opening].strip()
        if opening != -1 and between in ("", ":") and (start == 0 or not _is_name_char(text[start - 1])):
            depth = 0
            for index in range(opening, len(text)):
                depth += {"{": 1, "}": -1}.get(text[index], 0)
                if depth == 0:
                    return text[start : index + 1]
            raise DataError(f"config.pbtxt has an unclosed {field}", hint="rewrite the config")
        start += len(field)
    return None


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"
