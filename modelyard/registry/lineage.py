"""Lineage tags put on every run, so a registered version can be traced to code and data."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from modelyard import __version__

TAG_PREFIX = "modelyard."
MODEL_TAG = "modelyard.model"
DATASET_DIGEST_TAG = "modelyard.dataset_digest"
GIT_COMMIT_TAG = "modelyard.git_commit"
GIT_DIRTY_TAG = "modelyard.git_dirty"
PACKAGE_VERSION_TAG = "modelyard.version"
UNKNOWN = "unknown"

_SOURCE_DIR = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=_SOURCE_DIR, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


@lru_cache(maxsize=1)
def git_state() -> tuple[str, str]:
    """(commit, dirty) of the code that runs, or ``unknown`` outside a checkout or before a commit."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return UNKNOWN, UNKNOWN
    status = _git("status", "--porcelain", "--untracked-files=no")
    dirty = UNKNOWN if status is None else str(bool(status)).lower()
    return commit, dirty


def lineage_tags(model: str, dataset_digest: str | None) -> dict[str, str]:
    """The tags that tie a run to its model, dataset, code commit and package version."""
    commit, dirty = git_state()
    return {
        MODEL_TAG: model,
        DATASET_DIGEST_TAG: dataset_digest or UNKNOWN,
        GIT_COMMIT_TAG: commit,
        GIT_DIRTY_TAG: dirty,
        PACKAGE_VERSION_TAG: __version__,
    }
