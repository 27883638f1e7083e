"""FakeKubectlRecorder: stands in for a Kubernetes API server, because none can run here.

No kube-apiserver, kind node image, k3s or envtest is available from this machine's
registries, so ``KubeRollouts``' command sequence is checked against this recorder. It does
what matters of the real thing for a rollout: keeps InferenceServices, applies JSON merge
patches, rejects objects that break the upstream KServe CRD schema, bumps ``generation``,
and plays KServe's controller by reporting a canary ready ``ready_after`` reads after it
changed. Every call is recorded, in order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import UsageError
from modelyard.rollout import kserve


@dataclass
class FakeKubectlRecorder:
    objects: dict[str, dict[str, Any]]
    crds: Any
    """A ``CrdRegistry``: patched objects are validated the way the API server does."""
    ready_after: int = 2
    calls: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    _reads_since_change: dict[str, int] = field(default_factory=dict)
    _revisions: dict[str, dict[str, int]] = field(default_factory=dict)
    """Knative: one revision per distinct served spec."""

    def get(self, name: str) -> dict[str, Any]:
        self.calls.append(("get", name, None))
        self._reads_since_change[name] = self._reads_since_change.get(name, 0) + 1
        self._reconcile(name)
        return copy.deepcopy(self.objects[name])

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", name, patch))
        patched = kserve.merge_patch(self.objects[name], patch)
        errors = list(self.crds.errors({k: v for k, v in patched.items() if k != "status"}))
        if errors:
            raise UsageError(f"the API server would refuse the patch: {errors[:3]}")
        patched["metadata"]["generation"] = self.objects[name]["metadata"].get("generation", 1) + 1
        if _served(patched) != _served(self.objects[name]):  # new pods; a traffic change starts none
            self._reads_since_change[name] = 0
        self.objects[name] = patched
        self._reconcile(name)
        return copy.deepcopy(patched)

    def patches(self) -> list[dict[str, Any]]:
        return [patch for verb, _, patch in self.calls if verb == "patch" and patch is not None]

    def _reconcile(self, name: str) -> None:
        obj = self.objects[name]
        ready = self._reads_since_change.get(name, 0) >= self.ready_after
        status = obj.setdefault("status", {})
        if kserve.deploy_mode(obj) == "standard":
            status["canaryStatuses"] = [
                {"name": c["predictor"]["name"], "ready": ready, "trafficPercent": c["trafficPercent"]}
                for c in obj["spec"].get("canary") or []
            ]
            return
        revisions = self._revisions.setdefault(name, {})
        revision = revisions.setdefault(_served(obj), len(revisions) + 1)
        predictor = status.setdefault("components", {}).setdefault("predictor", {})
        created = f"{name}-predictor-{revision:05d}"
        if predictor.get("latestCreatedRevision") != created:  # a new revision: the old one serves
            predictor["previousRolledoutRevision"] = predictor.get("latestReadyRevision") or created
        previous = predictor["previousRolledoutRevision"]
        predictor["latestCreatedRevision"] = created
        predictor["latestReadyRevision"] = created if ready else previous
        status["observedGeneration"] = obj["metadata"].get("generation", 1)
        canary_percent = obj["spec"]["predictor"].get("canaryTrafficPercent")
        latest_percent = 100 if canary_percent is None else canary_percent
        predictor["traffic"] = [{"revisionName": created, "percent": latest_percent, "latestRevision": True}]
        if latest_percent < 100 and previous != created:
            predictor["traffic"].append({"revisionName": previous, "percent": 100 - latest_percent})


def _served(obj: dict[str, Any]) -> str:
    """What decides which pods run: the predictor's and each canary's storage and name."""
    spec = obj["spec"]
    served = [spec["predictor"]["model"].get("storageUri")]
    served += [
        (c["predictor"].get("name"), c["predictor"]["model"]["storageUri"]) for c in spec.get("canary") or []
    ]
    return repr(served)
