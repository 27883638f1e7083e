"""One model request, from upstream choice to the shadow copy: the same code behind the FastAPI
model routes and the fast path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Response

from .incoming import Incoming
from .limits import is_form_encoded, read_model_input
from .metrics import GatewayMetrics
from .middleware import RequestRecord
from .proxy import UpstreamProxy
from .rollout.table import GatewayRollouts

BodyRule = Literal["none", "json", "json_or_binary"]
"""What a route reads: no body, a JSON body, or a V2 inference request (JSON, or a JSON header and
binary tensors), whose tensors are checked too."""


@dataclass(frozen=True)
class BodyRoute:
    """A model route that takes a body (the hot ones): its declared path, the body it accepts and
    the upstream path it forwards to."""

    path: str
    body: BodyRule
    upstream: str

    def upstream_path(self, model: str) -> str:
        return self.upstream.format(model=model)


V1_PREDICT = BodyRoute("/v1/models/{model}:predict", "json", "/v1/models/{model}:predict")
V2_INFER = BodyRoute("/v2/models/{model}/infer", "json_or_binary", "/v2/models/{model}/infer")
# KServe answers versioned paths with 501, so the pinned upstream gets the plain path.
V2_VERSION_INFER = BodyRoute(
    "/v2/models/{model}/versions/{version}/infer", "json_or_binary", "/v2/models/{model}/infer"
)
BODY_ROUTES = (V1_PREDICT, V2_INFER, V2_VERSION_INFER)


class ModelForwarder:
    """Resolves the upstream, reads and checks the body, forwards it, sends the shadow copy.

    Fills the request's record (model, version) as soon as the upstream is known, so the answer's
    headers, metrics and log line name them, refusals of the body included.
    """

    def __init__(
        self, rollouts: GatewayRollouts, proxy: UpstreamProxy, metrics: GatewayMetrics, max_body_bytes: int
    ) -> None:
        self.rollouts = rollouts
        self.proxy = proxy
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def forward(
        self,
        request: Incoming,
        record: RequestRecord,
        model: str,
        path: str,
        version: str | None = None,
        body: BodyRule = "none",
    ) -> Response:
        """The upstream's answer to ``path`` for ``model`` (``version``: pinned by the caller)."""
        choice = self.rollouts.choose(model, version, request.headers, record.request_id)
        upstream = choice.upstream
        record.model, record.version = model, upstream.version
        with self.metrics.tracking_in_flight(model, upstream.version):
            content = None
            if body != "none":
                v2_infer = body == "json_or_binary"
                content = await read_model_input(request.headers, request.body, self.max_body_bytes, v2_infer)
                if is_form_encoded(request.headers):  # JSON that curl -d labelled as a form
                    request = request.labelled_json()
            response = await self.proxy.forward(request, record, upstream, path, content)
        self.rollouts.after_response(choice, model, path, request.headers, content, response)
        return response

    async def forward_body(
        self, route: BodyRoute, request: Incoming, record: RequestRecord, model: str, version: str | None
    ) -> Response:
        """``forward`` for one of the ``BODY_ROUTES``."""
        return await self.forward(request, record, model, route.upstream_path(model), version, route.body)
