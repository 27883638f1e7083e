"""Crash-safe file writes shared by every component that keeps state on disk."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write beside, fsync, then rename: readers (and a crash) see the old file or the new one,
    never half of one. The staging name carries the pid so concurrent writers never collide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with staging.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)
