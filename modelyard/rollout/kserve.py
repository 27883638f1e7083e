"""InferenceService canary patches for KServe v0.20 (pure: objects in, merge patches out).

Standard mode (``serving.kserve.io/deploymentMode: Standard``): the candidate is a named
second predictor in ``spec.canary[]`` with its ``trafficPercent``. Knative mode: the
candidate becomes the predictor's latest revision and ``spec.predictor.canaryTrafficPercent``
of traffic goes to it. KServe cannot resolve MLflow aliases, so a version is addressed by
its storage folder, ``<model store>/<model>/<version>`` (the training RayJob publishes there).
Every patch is a JSON merge patch (RFC 7386): ``kubectl patch --type merge`` takes it as is.
"""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from modelyard.errors import UsageError

DeployMode = Literal["standard", "knative"]
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
CANARY_VERSION = "modelyard.io/canary-version"
STABLE_VERSION = "modelyard.io/stable-version"
STABLE_STORAGE = "modelyard.io/stable-storage-uri"
REASON = "modelyard.io/rollout-reason"
CANARY_CONTAINER = "kserve-container"
"""A canary's model is a full container spec, where the name is required."""
_STANDARD_NAMES = ("standard", "rawdeployment")
_KNATIVE_NAMES = ("serverless", "knative")

Object = dict[str, Any]


def storage_uri(model_store: str, model: str, version: int) -> str:
    """``s3://bucket/<model>/<version>``: where the chart and training put a version's repository."""
    return f"{model_store.rstrip('/')}/{model}/{version}"


def canary_name(version: int) -> str:
    return f"v{version}"


def deploy_mode(isvc: Object, override: DeployMode | None = None) -> DeployMode:
    """The mode the InferenceService runs in (its annotation), unless the operator says otherwise."""
    if override is not None:
        return override
    declared = (isvc.get("metadata", {}).get("annotations", {}).get(MODE_ANNOTATION) or "").lower()
    if declared in _STANDARD_NAMES:
        return "standard"
    if declared in _KNATIVE_NAMES:
        return "knative"
    raise UsageError(
        f"InferenceService {isvc['metadata']['name']} has no known {MODE_ANNOTATION} ({declared!r})",
        hint="pass --mode standard or --mode knative",
    )


def start_patch(isvc: Object, mode: DeployMode, version: int, uri: str, percent: int) -> Object:
    """Deploy ``uri`` as the canary with ``percent`` of traffic (0: deploy, send nothing yet)."""
    stable = isvc["spec"]["predictor"]
    annotations = {
        CANARY_VERSION: str(version),
        STABLE_STORAGE: stable["model"]["storageUri"],
        REASON: None,
    }
    if mode == "knative":
        spec = {"predictor": {"canaryTrafficPercent": percent, "model": {"storageUri": uri}}}
    else:
        spec = {"canary": [_canary_entry(stable, version, uri, percent)]}
    return {"metadata": {"annotations": annotations}, "spec": spec}


def _canary_entry(stable_predictor: Object, version: int, uri: str, percent: int) -> Object:
    """The stable predictor's pod and runtime, serving ``uri`` under its own name."""
    predictor = copy.deepcopy(stable_predictor)
    predictor.pop("canaryTrafficPercent", None)
    predictor["name"] = canary_name(version)
    predictor["model"] = {**predictor["model"], "name": CANARY_CONTAINER, "storageUri": uri}
    return {"trafficPercent": percent, "predictor": predictor}


def percent_patch(isvc: Object, mode: DeployMode, percent: int) -> Object:
    """Move the canary's share of traffic to ``percent``."""
    if mode == "knative":
        return {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
    canaries = isvc["spec"].get("canary") or []
    if not canaries:
        raise UsageError(f"{isvc['metadata']['name']} has no canary", hint="start one: yard rollout start")
    # spec.canary is an atomic list: a merge patch replaces it whole.
    return {"spec": {"canary": [{**canaries[0], "trafficPercent": percent}]}}


def promote_patch(isvc: Object, mode: DeployMode) -> Object:
    """The canary becomes the predictor; no canary is left."""
    annotations = {CANARY_VERSION: None, STABLE_STORAGE: None, REASON: None}
    if mode == "knative":
        # Without canaryTrafficPercent the latest revision (the candidate) takes all traffic.
        return {
            "metadata": {"annotations": annotations},
            "spec": {"predictor": {"canaryTrafficPercent": None}},
        }
    uri = canary_storage_uri(isvc, mode)
    return {
        "metadata": {"annotations": annotations},
        "spec": {"predictor": {"model": {"storageUri": uri}}, "canary": None},
    }


def rollback_patches(isvc: Object, mode: DeployMode, reason: str) -> list[Object]:
    """Patches, in order, that return all traffic to the stable version and drop the candidate."""
    annotations = {CANARY_VERSION: None, STABLE_STORAGE: None, REASON: reason}
    if mode == "standard":
        return [{"metadata": {"annotations": annotations}, "spec": {"canary": None}}]
    stable_uri = isvc["metadata"].get("annotations", {}).get(STABLE_STORAGE)
    if not stable_uri:
        raise UsageError(
            f"{isvc['metadata']['name']} does not record its stable storage URI ({STABLE_STORAGE})",
            hint="set spec.predictor.canaryTrafficPercent to 0 by hand, then restore storageUri",
        )
    return [
        # First traffic (0 % to the latest revision: the previous one takes it all), then the spec.
        {"spec": {"predictor": {"canaryTrafficPercent": 0}}},
        {
            "metadata": {"annotations": annotations},
            "spec": {"predictor": {"canaryTrafficPercent": None, "model": {"storageUri": stable_uri}}},
        },
    ]


def canary_storage_uri(isvc: Object, mode: DeployMode) -> str:
    if mode == "knative":
        return isvc["spec"]["predictor"]["model"]["storageUri"]
    canaries = isvc["spec"].get("canary") or []
    if not canaries:
        raise UsageError(f"{isvc['metadata']['name']} has no canary", hint="start one: yard rollout start")
    return canaries[0]["predictor"]["model"]["storageUri"]


@dataclass(frozen=True)
class TrafficStatus:
    """What KServe reports about the split."""

    canary_version: str | None
    canary_ready: bool
    canary_percent: int | None
    traffic: list[dict[str, Any]]
    """``status.components.predictor.traffic`` as reported (Knative revisions and percents)."""


def traffic_status(isvc: Object, mode: DeployMode) -> TrafficStatus:
    metadata, status = isvc.get("metadata", {}), isvc.get("status") or {}
    version = metadata.get("annotations", {}).get(CANARY_VERSION)
    predictor = (status.get("components") or {}).get("predictor") or {}
    traffic = predictor.get("traffic") or []
    if mode == "standard":
        name = canary_name(int(version)) if version else None
        entry = next((c for c in status.get("canaryStatuses") or [] if c.get("name") == name), None)
        ready = bool(entry and entry.get("ready"))
        return TrafficStatus(version, ready, entry.get("trafficPercent") if entry else None, traffic)
    latest = next((t for t in traffic if t.get("latestRevision")), None)
    generation_seen = status.get("observedGeneration", 0) >= metadata.get("generation", 0)
    ready = bool(
        version
        and generation_seen
        and predictor.get("latestCreatedRevision")
        and predictor.get("latestCreatedRevision") == predictor.get("latestReadyRevision")
    )
    return TrafficStatus(version, ready, latest.get("percent") if latest else None, traffic)


def kubectl_patch_command(name: str, namespace: str, patch: Object) -> str:
    """The same change by hand: ``kubectl patch ... --type merge -p '<json>'``."""
    body = json.dumps(patch, separators=(",", ":"))
    target = f"-n {shlex.quote(namespace)} patch inferenceservice {shlex.quote(name)}"
    return f"kubectl {target} --type merge -p {shlex.quote(body)}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: what the API server does with ``--type merge``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
