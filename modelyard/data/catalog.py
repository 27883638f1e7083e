"""Prepare, verify and load the datasets: one mechanism for all, adapters supply the specifics.

A dataset is materialised into a temporary folder, hashed into a manifest, then swapped into
``<data_dir>/<name>`` in one rename, under a file lock: concurrent Ray workers calling
``load`` on a fresh machine build it once and never read a half-written folder.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelyard.data.fashion_mnist import FashionMNIST, FashionMNISTSpec
from modelyard.data.manifest import (
    Manifest,
    SourceRecord,
    build_manifest,
    corrupt_files,
    read_manifest,
    verify,
    write_manifest,
)
from modelyard.data.movielens import MovieLens, MovieLensSpec
from modelyard.data.spamassassin import SpamAssassin, SpamAssassinSpec
from modelyard.data.spec import DatasetSpec
from modelyard.errors import NotFoundError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings, get_settings

log = logging.getLogger(__name__)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (FashionMNISTSpec(), SpamAssassinSpec(), MovieLensSpec())
}


@dataclass(frozen=True)
class DatasetStatus:
    """One line of ``yard data list``."""

    name: str
    prepared: bool
    rows: dict[str, int]
    digest: str | None
    source: str | None
    """The source folder that would be used, or None when it is not installed."""


def spec_for(name: str) -> DatasetSpec:
    """The adapter for ``name``, or a UsageError listing the valid names."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}", hint=f"use one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def prepare(
    name: str | None = None,
    *,
    source: Path | None = None,
    force: bool = False,
    settings: Settings | None = None,
) -> list[Manifest]:
    """Materialise ``name`` (None: every dataset); skip any whose manifest still matches."""
    settings = settings or get_settings()
    if source is not None and name is None:
        hint = f"yard data prepare NAME --source DIR, NAME one of: {', '.join(DATASETS)}"
        raise UsageError("--source needs a dataset name", hint=hint)
    names = list(DATASETS) if name is None else [spec_for(name).name]
    return [_prepare_one(DATASETS[n], settings, source, force) for n in names]


def load(name: str, settings: Settings | None = None) -> FashionMNIST | SpamAssassin | MovieLens:
    """The dataset as a frozen dataclass, prepared on first use and checked against its manifest."""
    settings = settings or get_settings()
    spec = spec_for(name)
    folder = settings.data_dir / spec.name
    manifest = read_manifest(folder)
    if manifest is None:
        manifest = _prepare_one(spec, settings, source=None, force=False)
    verify(folder, manifest)
    return spec.read(folder, manifest.digest)


def verify_prepared(name: str | None = None, settings: Settings | None = None) -> list[Manifest]:
    """Re-hash prepared datasets (None: every prepared one); DataError names any changed file."""
    settings = settings or get_settings()
    manifests = []
    for spec in DATASETS.values() if name is None else [spec_for(name)]:
        folder = settings.data_dir / spec.name
        manifest = read_manifest(folder)
        if manifest is None:
            if name is not None:
                raise NotFoundError(f"dataset {name!r} is not prepared", hint=f"yard data prepare {name}")
            continue
        verify(folder, manifest)
        manifests.append(manifest)
    return manifests


def status(settings: Settings | None = None) -> list[DatasetStatus]:
    """What is prepared and where each source would come from; reads manifests, hashes nothing."""
    settings = settings or get_settings()
    rows = []
    for spec in DATASETS.values():
        manifest = read_manifest(settings.data_dir / spec.name)
        default = spec.default_source(settings)
        rows.append(
            DatasetStatus(
                name=spec.name,
                prepared=manifest is not None,
                rows=manifest.rows if manifest else {},
                digest=manifest.digest if manifest else None,
                source=str(default) if default is not None and default.exists() else None,
            )
        )
    return rows


def _prepare_one(spec: DatasetSpec, settings: Settings, source: Path | None, force: bool) -> Manifest:
    folder = settings.data_dir / spec.name
    with _locked(settings.data_dir, spec.name):
        # A source the user names must exist; the default one may be gone once prepared.
        asked = None if source is None else spec.require_source(settings, source)
        current = read_manifest(folder)
        if not force and _still_matches(spec, settings, folder, current, asked):
            event(log, "dataset_up_to_date", dataset=spec.name, digest=current.digest)
            return current
        source_dir = asked or spec.require_source(settings, None)
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=settings.data_dir))
        try:
            manifest = _materialise(spec, source_dir, staging)
            staging.chmod(0o755)  # mkdtemp makes it private; the dataset is not
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        event(
            log,
            "dataset_prepared",
            dataset=spec.name,
            rows=manifest.rows,
            digest=manifest.digest,
            seconds=round(time.perf_counter() - started, 2),
        )
        return manifest


def _materialise(spec: DatasetSpec, source_dir: Path, staging: Path) -> Manifest:
    rows, details = spec.materialise(source_dir, staging)
    manifest = build_manifest(
        staging,
        name=spec.name,
        format_version=spec.format_version,
        rows=rows,
        source=SourceRecord(path=str(source_dir), package=spec.package),
        license=spec.license,
        details=details,
    )
    write_manifest(staging, manifest)
    return manifest


def _still_matches(
    spec: DatasetSpec, settings: Settings, folder: Path, manifest: Manifest | None, source: Path | None
) -> bool:
    """Prepared from the wanted source (when that source is available) and unchanged since."""
    if manifest is None or manifest.format_version != spec.format_version:
        return False
    wanted = source or spec.default_source(settings)
    if wanted is not None and wanted.exists() and manifest.source.path != str(wanted.resolve()):
        return False
    return not corrupt_files(folder, manifest)


@contextmanager
def _locked(data_dir: Path, name: str) -> Iterator[None]:
    """An exclusive lock per dataset, so concurrent processes build it once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
