"""Candidate InferenceServices and the kubectl commands behind them (pure: objects in, objects out).

KServe's own canary (``spec.canary[]`` in Standard mode, ``canaryTrafficPercent`` in Knative
mode) splits only the predictor: one stable transformer would feed both predictors, and our
transformer is pinned to one version (thresholds, feature tables, Qdrant collection, the
Triton version it asks for). So a candidate is a whole second InferenceService,
``<model>-v<version>``, built from the stable one's spec, and the modelyard gateway splits
traffic between the two transformers. KServe cannot resolve MLflow aliases, so a version is
addressed by its storage folder, ``<model store>/<model>/<version>``.
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

Object = dict[str, Any]

CANDIDATE_OF = "modelyard.io/candidate-of"
VERSION_LABEL = "modelyard.io/version"
VERSION_ARG = "--version="
_SERVER_FIELDS = ("status",)
_SERVER_METADATA = ("resourceVersion", "uid", "generation", "managedFields", "creationTimestamp")
_FOREIGN_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
)


def candidate_name(model: str, version: int) -> str:
    return f"{model}-v{version}"


def transformer_url(isvc_name: str, namespace: str) -> str:
    """The transformer's in-cluster URL: KServe names its Service ``<isvc>-transformer`` in both
    modes (a ClusterIP in Standard mode, Knative's own Service in Knative mode), port 80."""
    return f"http://{isvc_name}-transformer.{namespace}.svc"


def served_version(isvc: Object) -> str:
    """The version an InferenceService serves: its storage folder's last segment (as the chart)."""
    return isvc["spec"]["predictor"]["model"]["storageUri"].rstrip("/").rsplit("/", 1)[-1]


def candidate_isvc(stable: Object, version: int, uri: str) -> Object:
    """The stable InferenceService's spec serving ``uri``, named and labelled as its candidate.

    Server-owned fields and KServe canary fields are dropped, so the result can be applied as is.
    """
    model = stable["metadata"]["name"]
    candidate = {key: copy.deepcopy(value) for key, value in stable.items() if key not in _SERVER_FIELDS}
    metadata = candidate["metadata"]
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    metadata["name"] = candidate_name(model, version)
    metadata["labels"] = {
        **metadata.get("labels", {}),
        CANDIDATE_OF: model,
        VERSION_LABEL: str(version),
    }
    annotations = {k: v for k, v in metadata.get("annotations", {}).items() if k not in _FOREIGN_ANNOTATIONS}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    spec = candidate["spec"]
    spec.pop("canary", None)
    spec["predictor"].pop("canaryTrafficPercent", None)
    spec["predictor"]["model"]["storageUri"] = uri
    transformer = spec.get("transformer")
    if transformer:
        transformer.pop("canaryTrafficPercent", None)
        for container in transformer.get("containers", []):
            container["args"] = _pin_version(container.get("args", []), version)
    return candidate


def _pin_version(args: list[str], version: int) -> list[str]:
    kept = [arg for arg in args if not arg.startswith(VERSION_ARG)]
    return [*kept, f"{VERSION_ARG}{version}"]


def is_ready(isvc: Object) -> bool:
    """KServe's verdict: ``status.conditions`` holds ``Ready=True`` for the current generation."""
    status = isvc.get("status") or {}
    if status.get("observedGeneration", 0) < isvc.get("metadata", {}).get("generation", 0):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


# --- the same by hand ------------------------------------------------------------------


def _kubectl(namespace: str, *words: str) -> str:
    return " ".join(["kubectl", "-n", shlex.quote(namespace), *words])


def apply_command(namespace: str, manifest: Object) -> str:
    body = json.dumps(manifest, indent=2)
    return _kubectl(namespace, "apply", "-f", "-", "<<'EOF'") + f"\n{body}\nEOF"


def wait_command(namespace: str, name: str, timeout_s: float) -> str:
    return _kubectl(
        namespace, "wait", "--for=condition=Ready", f"isvc/{shlex.quote(name)}", f"--timeout={timeout_s:.0f}s"
    )


def delete_command(namespace: str, name: str) -> str:
    return _kubectl(namespace, "delete", "isvc", shlex.quote(name), "--ignore-not-found")


def patch_configmap_command(namespace: str, name: str, patch: Object) -> str:
    body = json.dumps(patch, separators=(",", ":"))
    return _kubectl(
        namespace, "patch", "configmap", shlex.quote(name), "--type", "merge", "-p", shlex.quote(body)
    )
