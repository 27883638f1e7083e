"""Crash-safe file writes shared by every component that keeps state on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` fills a staging file beside ``path``, which is then fsynced and renamed over it:
    readers (a running Triton, another process, a crash) see the old file or the new one, never
    half of one. The staging name carries the pid so concurrent writers never collide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(staging)
    with staging.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, path)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda staging: staging.write_text(text, encoding="utf-8"))


def write_json_atomically(path: Path, value: Any, indent: int = 2) -> None:
    """``value`` as JSON (a ``str`` is taken as JSON already), newline-terminated."""
    text = value if isinstance(value, str) else json.dumps(value, indent=indent, sort_keys=True)
    write_text_atomically(path, text + "\n")
