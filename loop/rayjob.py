"""``yard monitor MODEL --submit-rayjob FILE``: from the chart's retraining CronJob, a drifted
window becomes a RayJob that runs ``yard retrain MODEL`` on that window.

FILE is the RayJob the chart renders into a ConfigMap with the same template as its training
RayJobs; here it only gets a name unique to this check, the model's label and the window. The pod
talks to the API server itself, as its ServiceAccount (the chart's Role: create, get, list and
delete ``rayjobs.ray.io`` in its namespace, nothing else): the training image ships no kubectl,
and three REST calls need no client library.
"""

from __future__ import annotations

import copy
import os
import ssl
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from modelyard.errors import UnavailableError, UsageError
from rollout.kserve import Object

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RAYJOBS = "/apis/ray.io/v1/namespaces/{namespace}/rayjobs"
RETRAIN_OF = "modelyard.io/retrain-of"
"""Label of a model's retraining RayJobs: how a check finds the ones before it."""
FINISHED = frozenset({"Complete", "Failed"})
"""KubeRay's final ``status.jobDeploymentStatus`` values. Anything else (no status yet,
Initializing, Running, Retrying, Suspended...) is still going, and is not doubled."""
MAX_NAME = 47
"""KubeRay refuses longer RayJob names (it suffixes them for the RayCluster it creates)."""
STAMP = "%y%m%d%H%M%S"
KEEP_FINISHED = 1
"""Finished retraining RayJobs kept per model (the newest, for its logs); older ones are deleted."""
API_TIMEOUT_S = 30.0


class AlreadyExists(UnavailableError):
    """The API server already holds a RayJob of that name (another check created it first)."""


class RayJobApi(Protocol):
    """The calls a check needs from the API server, in its own namespace."""

    def list(self, selector: str) -> list[Object]: ...
    def create(self, manifest: Object) -> Object: ...
    def delete(self, name: str) -> None: ...


class InClusterRayJobs:
    """``RayJobApi`` over the API server's REST API."""

    def __init__(self, client: httpx.Client, namespace: str) -> None:
        self.client = client
        self.path = RAYJOBS.format(namespace=namespace)

    @classmethod
    def from_pod(
        cls, account: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] = os.environ
    ) -> InClusterRayJobs:
        """As the pod's ServiceAccount: its mounted token, CA and namespace, the API server's
        address from the variables the kubelet sets in every pod."""
        if not (account / "token").is_file():
            raise UnavailableError(
                f"no ServiceAccount token at {account}: not inside a Kubernetes pod",
                hint="--submit-rayjob runs in the chart's retraining CronJob (retraining.enabled); "
                "on a machine of your own use --retrain",
            )
        host = environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        client = httpx.Client(
            base_url=f"https://{host}:{environ.get('KUBERNETES_SERVICE_PORT', '443')}",
            headers={"Authorization": f"Bearer {(account / 'token').read_text().strip()}"},
            verify=ssl.create_default_context(cafile=str(account / "ca.crt")),
            timeout=API_TIMEOUT_S,
        )
        return cls(client, (account / "namespace").read_text().strip())

    def list(self, selector: str) -> list[Object]:
        return _checked(self.client.get(self.path, params={"labelSelector": selector}))["items"]

    def create(self, manifest: Object) -> Object:
        return _checked(self.client.post(self.path, json=manifest))

    def delete(self, name: str) -> None:
        # Background: the RayCluster and pods KubeRay made for it go with it.
        response = self.client.request(
            "DELETE", f"{self.path}/{name}", json={"propagationPolicy": "Background"}
        )
        if response.status_code != httpx.codes.NOT_FOUND:
            _checked(response)


def _checked(response: httpx.Response) -> Object:
    """The answer's object, or the API server's own message (a Status object) as the error."""
    if response.is_success:
        return response.json()
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text
    error = AlreadyExists if response.status_code == httpx.codes.CONFLICT else UnavailableError
    raise error(
        f"API server: {response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {message}",
        hint="the CronJob's ServiceAccount may only create, get, list and delete rayjobs.ray.io "
        "in its namespace (the chart's <release>-retraining Role); is KubeRay's CRD installed?",
    )


def read_manifest(path: Path) -> Object:
    """The RayJob the chart rendered (``<release>-retrain-<model>`` ConfigMap, key rayjob.yaml)."""
    try:
        manifest = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the RayJob manifest {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "RayJob":
        raise UsageError(
            f"{path} is not a RayJob manifest", hint="the chart mounts rayjob.yaml from its ConfigMap"
        )
    return manifest


def retrain_rayjob(manifest: Object, model: str, since: str | None, until: str, now: datetime) -> Object:
    """The chart's RayJob for this check: a name with the check's time, the model's label, and
    ``yard retrain`` limited to the window that drifted."""
    job = copy.deepcopy(manifest)
    metadata = job["metadata"]
    stamp = now.strftime(STAMP)
    metadata["name"] = f"{metadata['name'][: MAX_NAME - len(stamp) - 1].rstrip('-')}-{stamp}"
    metadata["labels"] = {**metadata.get("labels", {}), RETRAIN_OF: model}
    window = ([f"--since {since}"] if since else []) + [f"--until {until}"]
    job["spec"]["entrypoint"] = " ".join([job["spec"]["entrypoint"], *window])
    return job


def submit_retrain(
    api: RayJobApi, manifest: Object, model: str, since: str | None, until: str, now: datetime
) -> dict[str, Any]:
    """Create the retraining RayJob unless one of ``model``'s is still going; finished ones but
    the newest are deleted first. Returns what happened, for ``--json``."""
    jobs = api.list(f"{RETRAIN_OF}={model}")
    going = [job for job in jobs if _state(job) not in FINISHED]
    if going:
        name = going[0]["metadata"]["name"]
        return {
            "rayjob": name,
            "created": False,
            "reason": f"{name} is still {_state(going[0]) or 'starting'}: not doubled",
            "deleted": [],
        }
    finished = sorted(jobs, key=lambda job: job["metadata"].get("creationTimestamp", ""))
    stale = [job["metadata"]["name"] for job in finished[: max(len(finished) - KEEP_FINISHED, 0)]]
    for name in stale:
        api.delete(name)
    job = retrain_rayjob(manifest, model, since, until, now)
    name = job["metadata"]["name"]
    try:
        api.create(job)
    except AlreadyExists:
        return {"rayjob": name, "created": False, "reason": f"{name} exists already", "deleted": stale}
    return {"rayjob": name, "created": True, "reason": "drift", "deleted": stale}


def _state(job: Object) -> str:
    return (job.get("status") or {}).get("jobDeploymentStatus", "")
