"""The rollout admin API: ``/admin/rollouts``, behind the admin key.

The key is checked (a router dependency) before the body is read, and the body is read here,
not by FastAPI: FastAPI parses a declared body before it runs dependencies, so a keyless client
could make the gateway read and parse anything. Bodies are capped at ``MAX_ADMIN_BODY_BYTES``
while they stream in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from modelyard.errors import validation_summary
from serving.gateway.config import Upstream
from serving.gateway.errors import GatewayError
from serving.gateway.limits import read_model_input
from serving.gateway.rollout.state import Rollout, RolloutSpec

from .table import GatewayRollouts

MAX_ADMIN_BODY_BYTES = 64 * 1024
"""A RolloutSpec is a few hundred bytes; nothing an operator sends comes near this."""


class RolloutView(BaseModel):
    """``GET /admin/rollouts/{model}``: the configured routes and the rollout on top of them."""

    model: str
    configured: list[Upstream]
    rollout: Rollout | None


def admin_router(rollouts: GatewayRollouts, errors: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The admin routes over ``rollouts`` (``errors``: the auth refusals, for the OpenAPI document)."""
    router = APIRouter(prefix="/admin/rollouts", tags=["admin"], responses=errors)

    @router.get("", response_model=dict[str, Rollout])
    async def list_rollouts() -> dict[str, Rollout]:
        return rollouts.rollouts

    @router.get("/{model}", response_model=RolloutView)
    async def get_rollout(model: str) -> RolloutView:
        return RolloutView(
            model=model,
            configured=list(rollouts.routes.upstreams(model)),
            rollout=rollouts.rollouts.get(model),
        )

    @router.put(
        "/{model}",
        response_model=Rollout,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": RolloutSpec.model_json_schema()}},
            }
        },
    )
    async def put_rollout(model: str, request: Request) -> Rollout:
        """Set the split: candidate, percent, mode; every new variant must answer ready first."""
        return await rollouts.apply(model, await read_spec(request))

    @router.delete("/{model}", status_code=204)
    async def delete_rollout(model: str) -> Response:
        """Forget the rollout: the model's configured routes answer again."""
        await rollouts.remove(model)
        return Response(status_code=204)

    return router


async def read_spec(request: Request) -> RolloutSpec:
    """The body as a ``RolloutSpec``: 413 above the cap, 415 not JSON, 400 naming each bad field."""
    body = await read_model_input(
        request.headers,
        request.stream(),
        MAX_ADMIN_BODY_BYTES,
        v2_infer=False,
        limit_name="the admin API's cap",
    )
    try:
        return RolloutSpec.model_validate_json(body)
    except ValidationError as exc:
        raise GatewayError(400, f"invalid rollout: {validation_summary(exc)}") from None
