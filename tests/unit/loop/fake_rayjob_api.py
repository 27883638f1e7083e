"""FakeRayJobApiServer: stands in for the Kubernetes API server, because none can run here.

No kube-apiserver, kind node image, k3s or envtest is available from this machine's registries,
so ``yard monitor --submit-rayjob``'s calls go through httpx to this in-process stand-in. It answers
the rayjobs REST endpoints the way the API server does: bearer token required, label-selector
lists, 409 on a name taken, 404 on a missing one, Status objects as errors, and 403 for any other
resource (the chart's Role grants rayjobs only). It records every call.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from loop.rayjob import InClusterRayJobs

NAMESPACE = "modelyard"
TOKEN = "service-account-token"
PREFIX = f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayjobs"
CREATED_AT = datetime(2026, 12, 3, 12, 30, 5, tzinfo=UTC)


class FakeRayJobApiServer:
    """Stands in for the Kubernetes API server (none can run here): RayJobs of one namespace."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = {job["metadata"]["name"]: job for job in jobs}
        self.calls: list[tuple[str, str]] = []
        self.created: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized")
        name = path.removeprefix(PREFIX).strip("/")
        if not path.startswith(PREFIX) or "/" in name:
            return _status(403, f'{path} is forbidden: the Role grants rayjobs in "{NAMESPACE}" only')
        if request.method == "GET" and not name:
            key, value = request.url.params["labelSelector"].split("=")
            items = [j for j in self.jobs.values() if j["metadata"]["labels"].get(key) == value]
            return httpx.Response(200, json={"kind": "RayJobList", "items": items})
        if request.method == "POST" and not name:
            job = json.loads(request.content)
            if job["metadata"]["name"] in self.jobs:
                return _status(409, f'rayjobs.ray.io "{job["metadata"]["name"]}" already exists')
            job["metadata"]["creationTimestamp"] = CREATED_AT.isoformat()
            self.jobs[job["metadata"]["name"]] = job
            self.created.append(job)
            return httpx.Response(201, json=job)
        if request.method == "DELETE" and name:
            if self.jobs.pop(name, None) is None:
                return _status(404, f'rayjobs.ray.io "{name}" not found')
            return httpx.Response(200, json={"kind": "Status", "status": "Success"})
        return _status(405, f"{request.method} not allowed")

    def api(self, token: str = TOKEN) -> InClusterRayJobs:
        client = httpx.Client(
            base_url="https://api.test",
            headers={"Authorization": f"Bearer {token}"},
            transport=httpx.MockTransport(self.handle),
        )
        return InClusterRayJobs(client, NAMESPACE)


def _status(code: int, message: str) -> httpx.Response:
    return httpx.Response(
        code, json={"kind": "Status", "status": "Failure", "message": message, "code": code}
    )
