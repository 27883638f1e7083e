"""The shape every transformer shares: parse (codec) -> pipeline (Triton, Qdrant) -> encode (codec).

kserve calls ``preprocess -> predict -> postprocess`` for V1 (``dict``) and V2 (``InferRequest``,
REST and gRPC) alike. Subclasses supply the codec functions, the async pipeline and their payload
log rows; this class adds the version headers, our metrics, structured error logs, the error ->
status mapping, and hands each answered request to the payload log.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.model import InferenceVerb
from kserve.protocol.infer_type import InferRequest, InferResponse

from modelyard.logs import event
from modelyard.settings import Settings
from serving.transformer import metrics
from serving.transformer.errors import ServiceUnavailable, as_kserve_error
from serving.transformer.payload_log import PayloadLog
from serving.transformer.predictor import Predictor
from serving.transformer.version import VersionState

log = logging.getLogger(__name__)

MODEL_HEADER = "x-modelyard-model"
VERSION_HEADER = "x-modelyard-version"

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Parsed(Generic[Request]):
    """A validated request and how it arrived (so the answer goes back in the same protocol)."""

    request: Request
    v2: bool
    request_id: str
    started: float
    """``time.perf_counter()`` when preprocessing began (the payload log's latency)."""


class Transformer(Model, ABC, Generic[Request, Result]):
    """One model version behind KServe's V1 and V2 (REST + gRPC) endpoints."""

    parse_in_thread: ClassVar[bool] = False
    """Parse requests in a worker thread: for codecs that decode images (milliseconds of CPU, in
    Pillow code that releases the GIL), so health probes and other requests keep being answered."""

    def __init__(self, state: VersionState, predictor: Predictor, settings: Settings) -> None:
        super().__init__(state.model, return_response_headers=True)
        self.state = state
        self.predictor = predictor
        self.settings = settings
        self.payloads = PayloadLog(settings, state.model, state.version)

    # --- what each model supplies ------------------------------------------------------

    @abstractmethod
    def prepare(self) -> None:
        """Build request-time state from ``self.state`` (raise a ModelyardError if it cannot serve)."""

    @abstractmethod
    def parse_v1(self, body: Any) -> Request: ...

    @abstractmethod
    def parse_v2(self, request: InferRequest) -> Request: ...

    @abstractmethod
    def batch_size(self, request: Request) -> int: ...

    @abstractmethod
    async def run(self, request: Request, request_id: str) -> Result:
        """The pipeline: Triton calls (``self.predictor``) and searches."""

    @abstractmethod
    def encode_v1(self, request: Request, result: Result) -> list[Any]:
        """The ``predictions`` list of the V1 answer."""

    @abstractmethod
    def encode_v2(self, request: Request, result: Result, request_id: str) -> InferResponse: ...

    @abstractmethod
    def payload_columns(self, request: Request, result: Result) -> dict[str, Any]:
        """This model's payload columns (``modelyard.payloads.PAYLOAD_SCHEMA``), one value per
        instance: references to what the request already holds, since this runs on the request
        path (called after the answer is encoded, only for requests the log samples)."""

    async def triton(
        self, model: str, inputs: dict[str, np.ndarray], request_id: str
    ) -> dict[str, np.ndarray]:
        """Run a Triton model of this version on any number of rows: Triton refuses batches above
        the model's ``max_batch_size``, so larger inputs go as concurrent chunks."""
        rows = len(next(iter(inputs.values())))
        limit = int(self.state.signature[model].get("max_batch_size", 0)) or rows
        chunks = [
            self.predictor.infer(
                model,
                self.state.triton_version,
                {name: array[start : start + limit] for name, array in inputs.items()},
                request_id,
            )
            for start in range(0, rows, limit)
        ]
        answers = await asyncio.gather(*chunks)
        return {name: np.concatenate([answer[name] for answer in answers]) for name in answers[0]}

    # --- kserve hooks ------------------------------------------------------------------

    def load(self) -> bool:
        self.prepare()
        self.ready = True
        event(
            log,
            "transformer_loaded",
            model=self.state.model,
            version=self.state.version,
            triton_models=self.state.triton_models,
            predictor=self.predictor.host,
            protocol=self.predictor.protocol,
        )
        return self.ready

    def stop(self) -> None:
        """kserve's shutdown hook: write the payload rows still queued."""
        super().stop()
        self.payloads.close()

    async def __call__(
        self, body: Any, headers: dict[str, str] | None = None, verb: InferenceVerb = InferenceVerb.PREDICT
    ) -> Any:
        """kserve's pipeline plus accounting; modelyard errors leave as kserve's 400/503 errors."""
        started = time.perf_counter()
        protocol = "v2" if isinstance(body, InferRequest) else "v1"
        model, version = self.state.model, self.state.version
        try:
            answer = await super().__call__(body, headers, verb)
        except Exception as error:
            mapped = as_kserve_error(error)
            status = _status_of(mapped)
            metrics.record_error(model, version, type(error).__name__)
            metrics.record_request(model, version, protocol, status, time.perf_counter() - started)
            level = logging.INFO if status == "client_error" else logging.ERROR
            event(
                log, "inference_failed", level, model=model, version=version, status=status, error=str(error)
            )
            if mapped is error:
                raise
            raise mapped from error
        metrics.record_request(model, version, protocol, "ok", time.perf_counter() - started)
        return answer

    def validate(self, payload: Any) -> Any:
        """The codecs validated already (kserve's own check would probe our dataclass like a dict)."""
        return payload

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Parsed[Request]:
        started = time.perf_counter()
        with metrics.stage(self.state.model, self.state.version, "preprocess"):
            v2 = isinstance(payload, InferRequest)
            parse = self.parse_v2 if v2 else self.parse_v1
            request = await asyncio.to_thread(parse, payload) if self.parse_in_thread else parse(payload)
            request_id = (payload.id if v2 else None) or _request_id(headers)
            parsed = Parsed(request, v2, request_id, started)
        metrics.record_batch(self.state.model, self.state.version, self.batch_size(parsed.request))
        return parsed

    async def predict(
        self, payload: Parsed[Request], headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> tuple[Parsed[Request], Result]:
        with metrics.stage(self.state.model, self.state.version, "predict"):
            return payload, await self.run(payload.request, payload.request_id)

    async def postprocess(
        self,
        result: tuple[Parsed[Request], Result],
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | InferResponse:
        parsed, answer = result
        with metrics.stage(self.state.model, self.state.version, "postprocess"):
            if response_headers is not None:
                response_headers[MODEL_HEADER] = self.state.model
                response_headers[VERSION_HEADER] = str(self.state.version)
            if parsed.v2:
                encoded: dict[str, Any] | InferResponse = self.encode_v2(
                    parsed.request, answer, parsed.request_id
                )
            else:
                encoded = {
                    "predictions": self.encode_v1(parsed.request, answer),
                    "model": self.state.model,
                    "version": self.state.version,
                }
        self.payloads.record(
            parsed.request_id,
            time.perf_counter() - parsed.started,
            self.batch_size(parsed.request),
            lambda: self.payload_columns(parsed.request, answer),
        )
        return encoded


def _status_of(error: Exception) -> str:
    """The ``status`` label of a failed request."""
    if isinstance(error, InvalidInput):
        return "client_error"
    return "unavailable" if isinstance(error, ServiceUnavailable) else "error"


def _request_id(headers: dict[str, str] | None) -> str:
    return (headers or {}).get("x-request-id") or uuid.uuid4().hex
