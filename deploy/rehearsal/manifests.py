"""Render the chart with helm and look objects up the way controllers do (by kind and name)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelyard.errors import UnavailableError, UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelyard"
KIND_VALUES = CHART / "values-kind.yaml"
REHEARSAL_VALUES = Path(__file__).with_name("values.yaml")
HELM_TIMEOUT_S = 60


def find_helm() -> str | None:
    """``.tools/bin/helm`` (``make tools``) first, else a helm on PATH."""
    local = REPO_ROOT / ".tools" / "bin" / "helm"
    return str(local) if os.access(local, os.X_OK) else shutil.which("helm")


@dataclass(frozen=True)
class Rendered:
    """The objects ``helm template`` produced, for one release in one namespace."""

    release: str
    namespace: str
    docs: list[dict[str, Any]]
    text: str = ""
    """The YAML helm printed."""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise UsageError(f"the rendered chart has no {kind}/{name}", hint="check the values files")

    def secret_data(self) -> dict[str, dict[str, str]]:
        """Every Secret's keys, decoded (what the kubelet hands a ``secretKeyRef``)."""
        found: dict[str, dict[str, str]] = {}
        for secret in self.of_kind("Secret"):
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            found[secret["metadata"]["name"]] = {**data, **(secret.get("stringData") or {})}
        return found

    def configmap_data(self) -> dict[str, dict[str, str]]:
        return {cm["metadata"]["name"]: dict(cm.get("data") or {}) for cm in self.of_kind("ConfigMap")}


def render_chart(
    values_files: list[Path],
    set_values: list[str] | None = None,
    release: str = "modelyard",
    namespace: str = "modelyard",
    chart: Path = CHART,
) -> Rendered:
    """``helm template`` with the given values files (in order) and ``--set`` strings."""
    helm = find_helm()
    if helm is None:
        raise UnavailableError("helm not found", hint="run `make tools` (installs it into .tools/bin)")
    command = [helm, "template", release, str(chart), "--namespace", namespace]
    for path in values_files:
        command += ["-f", str(path)]
    for item in set_values or []:
        command += ["--set", item]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=HELM_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise UsageError(f"helm template failed: {proc.stderr.strip()}", hint="fix the chart or the values")
    return parse_rendered(proc.stdout, release, namespace)


def parse_rendered(text: str, release: str, namespace: str) -> Rendered:
    docs = [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]
    return Rendered(release, namespace, docs, text)
