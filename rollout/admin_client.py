"""The local ``RolloutBackend``: the gateway's rollout admin API and its /metrics, both with the
admin key."""

from __future__ import annotations

from typing import Any

import httpx

from modelyard.errors import NotFoundError, UnavailableError, UsageError
from serving.gateway.rollout.figures import Snapshot, parse_snapshot
from serving.gateway.rollout.state import Rollout, RolloutSpec, Variant

TIMEOUT_S = 10.0


class GatewayAdmin:
    def __init__(self, base_url: str, admin_key: str | None, timeout_s: float = TIMEOUT_S) -> None:
        headers = {"x-api-key": admin_key} if admin_key else {}
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def view(self, model: str) -> tuple[list[Variant], Rollout | None]:
        """The model's configured upstreams and its rollout (None: no rollout)."""
        body = self._call("GET", f"/admin/rollouts/{model}")
        rollout = Rollout.model_validate(body["rollout"]) if body["rollout"] else None
        # A variant is a URL and a version; the gateway keeps a configured upstream's replicas itself.
        configured = [Variant(version=u["version"], url=u["url"]) for u in body["configured"]]
        return configured, rollout

    def put(self, model: str, spec: RolloutSpec) -> Rollout:
        return Rollout.model_validate(
            self._call("PUT", f"/admin/rollouts/{model}", spec.model_dump(mode="json"))
        )

    def snapshot(self) -> Snapshot:
        return parse_snapshot(self._request("GET", "/metrics").text)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, path, body).json()

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            answer = self.client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise UnavailableError(
                f"the gateway at {self.base_url} is unreachable ({type(exc).__name__})",
                hint="start the stack (yard serve) or pass --gateway URL",
            ) from exc
        if answer.status_code in (401, 403):
            raise UsageError(
                f"the gateway refused the admin key: {_message(answer)}",
                hint="yard rollout sends the gateway's admin key: set MODELYARD_ADMIN_KEY or "
                "MODELYARD_ADMIN_KEY_FILE (the gateway writes <state_dir>/admin_key)",
            )
        if answer.status_code == 404:
            raise NotFoundError(_message(answer), hint="yard rollout status MODEL lists what is routed")
        if answer.status_code >= 400:
            raise UsageError(
                f"the gateway refused: {_message(answer)}", hint="check the model, version and percent"
            )
        return answer


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    return str(body.get("error") or body.get("detail") or body)
