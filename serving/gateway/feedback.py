"""Feedback: what users and moderators said about an answer, logged for the monitor and retraining.

``POST /v1/models/ranking/feedback`` ``{"request_id", "user", "item", "clicked"}`` (a shown item was
clicked or not) and ``POST /v1/models/moderation/feedback`` ``{"request_id", "label": 0|1}`` (a
moderator's verdict, 1 = harmful/spam). Authenticated like predictions; the body is validated here
(4xx with the field at fault) and each call becomes one row of ``<feedback_dir>/<model>/*.parquet``
(``modelyard.payloads``), joined to the payload log by ``request_id`` (the ``x-request-id`` the
prediction was answered under). Answered 202 once queued; a full queue answers 503 (retry), since
a client that was told "accepted" must not have its feedback dropped.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from modelyard.models import MODERATION, RANKING
from modelyard.payloads import FEEDBACK_SCHEMA, Chunk, ParquetSink, SinkOptions

from . import schemas
from .errors import GatewayError
from .limits import read_model_input
from .metrics import GatewayMetrics
from .routing import RouteTable

RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
"""The ``x-request-id`` of the answer the feedback is about (the ids the gateway keeps or makes)."""
ItemId = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class RankingFeedback(BaseModel):
    """A shown item was clicked (or not)."""

    model_config = ConfigDict(extra="forbid")
    request_id: RequestId
    user: ItemId
    item: ItemId
    clicked: StrictBool


class ModerationFeedback(BaseModel):
    """A moderator's verdict on a moderated text: 1 = harmful/spam, 0 = fine."""

    model_config = ConfigDict(extra="forbid")
    request_id: RequestId
    label: Annotated[StrictInt, Field(ge=0, le=1)]


class FeedbackAccepted(BaseModel):
    accepted: int


FEEDBACK_PATH = "/v1/models/{model}/feedback"
"""A FastAPI route: one small JSON body, validated here (the fast path is for forwarded bodies)."""

FEEDBACK_BODIES: dict[str, type[BaseModel]] = {
    RANKING.name: RankingFeedback,
    MODERATION.name: ModerationFeedback,
}
"""The models that take feedback, and the body each takes."""


class FeedbackLog:
    """Queues validated feedback for the background writer, one partition per model."""

    def __init__(self, directory: Path, options: SinkOptions, metrics: GatewayMetrics) -> None:
        self.sink = ParquetSink(directory, FEEDBACK_SCHEMA, options, metrics.count_feedback_rows)

    def accept(self, model: str, feedback: BaseModel) -> None:
        row = {"time": time.time(), "model": model, **feedback.model_dump()}
        if not self.sink.offer(model, Chunk(1, row)):
            raise GatewayError(503, "the feedback log is full right now; retry in a few seconds")

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sink.close)


def feedback_router(
    routes: RouteTable, log: FeedbackLog | None, max_body_bytes: int, responses: dict[int | str, Any]
) -> APIRouter:
    """``POST /v1/models/{model}/feedback`` (``log`` None: this gateway keeps no feedback, 503)."""
    router = APIRouter(tags=["feedback"])
    body_schema = {
        "oneOf": [{"$ref": f"#/components/schemas/{m.__name__}"} for m in FEEDBACK_BODIES.values()]
    }

    @router.post(
        FEEDBACK_PATH,
        status_code=202,
        response_model=FeedbackAccepted,
        responses=responses,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}}
        },
    )
    async def feedback(model: str, request: Request) -> FeedbackAccepted:
        """Feedback on an answer: ranking ``{"request_id", "user", "item", "clicked"}``,
        moderation ``{"request_id", "label": 0|1}``."""
        routes.upstreams(model)  # 404 naming the known models
        body_model = FEEDBACK_BODIES.get(model)
        if body_model is None:
            raise GatewayError(
                404, f"model {model!r} takes no feedback; these do: {', '.join(FEEDBACK_BODIES)}"
            )
        if log is None:
            raise GatewayError(503, "this gateway keeps no feedback (it has no feedback_dir)")
        body = await read_model_input(request.headers, request.stream(), max_body_bytes, v2_infer=False)
        try:
            parsed = body_model.model_validate_json(body)
        except ValidationError as error:
            raise GatewayError(422, f"bad {model} feedback: {_problems(error)}") from None
        log.accept(model, parsed)
        return FeedbackAccepted(accepted=1)

    return router


def _problems(error: ValidationError) -> str:
    """Pydantic's errors as ``field: message; ...`` (the body's own values are left out)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())


FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Malformed JSON"},
    404: {"model": schemas.ErrorBody, "description": "Unknown model, or one that takes no feedback"},
    413: {"model": schemas.ErrorBody, "description": "Body larger than the gateway's limit"},
    415: {"model": schemas.ErrorBody, "description": "Body is not JSON"},
    422: {"model": schemas.ErrorBody, "description": "A field is missing, unknown or of the wrong type"},
    503: {"model": schemas.ErrorBody, "description": "The feedback log is full (retry) or not kept here"},
}
