"""The manifest written beside every materialised dataset, and the checks made against it.

The manifest is the dataset's identity: its ``digest`` goes into training lineage, and its
per-file hashes let ``load`` refuse a file that changed on disk since ``prepare`` wrote it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from modelyard.errors import DataError

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


class FileRecord(BaseModel):
    """One materialised file: enough to detect any change to it."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    bytes: int


class SourceRecord(BaseModel):
    """Where the raw data came from, so a dataset can be rebuilt and attributed."""

    model_config = ConfigDict(frozen=True)

    path: str
    package: str


class Manifest(BaseModel):
    """What ``prepare`` produced for one dataset (stored as ``<data_dir>/<name>/manifest.json``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    format_version: int
    files: dict[str, FileRecord]
    rows: dict[str, int]
    source: SourceRecord
    license: str
    created: str
    digest: str
    details: dict[str, Any] = {}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks so large arrays do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digest(files: dict[str, FileRecord]) -> str:
    """SHA-256 over ``"<sha256>  <path>"`` lines sorted by path: changes when any file changes."""
    lines = "".join(f"{files[path].sha256}  {path}\n" for path in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def build_manifest(
    folder: Path,
    *,
    name: str,
    format_version: int,
    rows: dict[str, int],
    source: SourceRecord,
    license: str,
    details: dict[str, Any],
) -> Manifest:
    """Hash every file already in ``folder`` and describe them."""
    files = {
        path.relative_to(folder).as_posix(): FileRecord(sha256=sha256_file(path), bytes=path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    return Manifest(
        name=name,
        format_version=format_version,
        files=files,
        rows=rows,
        source=source,
        license=license,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        digest=dataset_digest(files),
        details=details,
    )


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest in ``folder``, or None when the dataset was never prepared there."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise DataError(
            f"{path} is not a valid dataset manifest ({exc.error_count()} errors)",
            hint=f"yard data prepare {folder.name} --force",
        ) from exc


def corrupt_files(folder: Path, manifest: Manifest) -> list[str]:
    """Files that are missing or whose size or hash differ from the manifest (size first: cheap)."""
    bad = []
    for relative, record in manifest.files.items():
        path = folder / relative
        if not path.is_file() or path.stat().st_size != record.bytes or sha256_file(path) != record.sha256:
            bad.append(relative)
    return bad


def verify(folder: Path, manifest: Manifest) -> None:
    """Raise DataError naming every file that no longer matches ``manifest``."""
    bad = corrupt_files(folder, manifest)
    if bad:
        raise DataError(
            f"dataset {manifest.name!r}: {', '.join(str(folder / b) for b in bad)} "
            "does not match its manifest (missing or changed since it was prepared)",
            hint=f"yard data prepare {manifest.name} --force",
        )
