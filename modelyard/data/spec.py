"""What each dataset adapter must say and do; everything else (manifest, checks) is generic.

An adapter knows three things only: where its raw files usually are (and which package puts
them there), how to turn them into files in an output folder, and how to read those back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from modelyard.errors import DataError
from modelyard.settings import Settings


class DatasetSpec(ABC):
    """One dataset: its source package, its layout and its materialised form."""

    name: str
    package: str
    """The package that ships the raw files (recorded in the manifest, named in errors)."""
    install_command: str
    """The exact command that installs ``package``."""
    license: str
    layout: str
    """The source layout in words, for users who bring their own copy with ``--source``."""
    required: tuple[str, ...]
    """Paths (globs allowed) under the source folder that must exist."""
    format_version: int = 1
    """Bump when the materialised form changes, so old folders are rebuilt."""

    @abstractmethod
    def default_source(self, settings: Settings) -> Path | None:
        """Where the installed package puts the raw files (None: package not installed)."""

    @abstractmethod
    def materialise(self, source: Path, out: Path) -> tuple[dict[str, int], dict[str, Any]]:
        """Write the dataset's files into ``out``; return (rows per table, manifest details)."""

    @abstractmethod
    def read(self, folder: Path, digest: str) -> Any:
        """Read the materialised files in ``folder`` into the dataset's frozen dataclass."""

    def require_source(self, settings: Settings, source: Path | None) -> Path:
        """The source folder to read, or a DataError saying how to install or supply it."""
        folder = source or self.default_source(settings)
        missing = self.required if folder is None else [p for p in self.required if not _exists(folder, p)]
        if missing:
            where = "not installed" if folder is None else f"{folder} lacks {', '.join(missing)}"
            raise DataError(
                f"{self.name} source not found ({where}); it comes from the package {self.package}",
                hint=f"{self.install_command}, or pass --source DIR (source=DIR) holding {self.layout}",
            )
        return folder.resolve()


def _exists(folder: Path, pattern: str) -> bool:
    return any(folder.glob(pattern)) if "*" in pattern else (folder / pattern).exists()
