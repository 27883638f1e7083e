"""Rollout k8s fixtures: InferenceServices rendered by the real chart, the upstream CRD schemas."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.charts.conftest import CHART, crds_dir, find_helm


def _render(*values: str) -> dict[str, dict[str, Any]]:
    helm = find_helm()
    if helm is None:
        pytest.skip("helm not found: run `make tools` (installs it into .tools/bin) or put helm on PATH")
    done = subprocess.run(
        [helm, "template", "yard", str(CHART), *values],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    docs = [d for d in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if d]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "InferenceService"}


@pytest.fixture(scope="session")
def standard_isvcs() -> dict[str, dict[str, Any]]:
    """The chart's default render: Standard mode, no canary."""
    return _render()


@pytest.fixture(scope="session")
def knative_isvcs() -> dict[str, dict[str, Any]]:
    """Knative mode (``deploymentMode: Serverless``), no canary."""
    return _render("--set", "serving.deploymentMode=Knative")


@pytest.fixture(scope="session")
def crds():
    from tests.charts.crd_schema import CrdRegistry

    path = crds_dir()
    if not path.is_dir():
        pytest.skip(f"upstream CRDs not found at {path}: set MODELYARD_CRDS_DIR to a folder of CRD files")
    return CrdRegistry(path)
