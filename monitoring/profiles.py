"""A version's reference profile (``profile.json``), fetched from the registry once and cached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelyard.artifact.layout import PROFILE_FILE
from modelyard.errors import NotFoundError
from modelyard.monitor_results import monitor_dir
from modelyard.registry import Registry
from modelyard.settings import Settings

PROFILES = "profiles"


def cached_profile_path(settings: Settings, model: str, version: str) -> Path:
    return monitor_dir(settings) / PROFILES / model / f"v{version}" / PROFILE_FILE


def load_profile(settings: Settings, model: str, version: str) -> dict[str, Any]:
    """The profile stored with ``model`` version ``version``; a NotFoundError that says to retrain
    when the version was trained before versions carried one."""
    path = cached_profile_path(settings, model, version)
    if not path.is_file():
        downloaded = Registry(settings).download_file(f"{model}/{version}", PROFILE_FILE, path.parent)
        if downloaded is None:
            raise NotFoundError(
                f"{model} v{version} has no reference profile ({PROFILE_FILE}): it was trained before "
                "versions stored one",
                hint=f"retrain it (yard train {model}) and serve the new version, then monitor again",
            )
        if downloaded != path:
            downloaded.replace(path)
    return json.loads(path.read_text())
