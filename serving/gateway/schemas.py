"""Request and response shapes of the routes, for the OpenAPI document only.

The gateway forwards bodies unparsed (the model server owns their validation); these
models describe KServe V1 and Open Inference Protocol V2 so clients and fuzzers
(schemathesis) know what to send and what comes back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TensorData = list[Any]
Parameters = dict[str, Any]


class ErrorBody(BaseModel):
    """Every refusal by the gateway (and KServe's own errors) carries one message."""

    error: str


class V1PredictRequest(BaseModel):
    """KServe V1: a batch of instances in the model's own input format."""

    model_config = ConfigDict(extra="allow")
    instances: list[Any] = Field(min_length=1)


class V1PredictResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    predictions: list[Any]


class V1ModelList(BaseModel):
    models: list[str]


class InferInputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str = Field(examples=["FP32", "INT64", "BYTES"])
    parameters: Parameters | None = None
    data: TensorData | None = None
    """Row-major flattened or nested values; absent when sent as binary data."""


class InferRequestedOutput(BaseModel):
    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    """Open Inference Protocol V2 inference request."""

    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[InferInputTensor] = Field(min_length=1)
    outputs: list[InferRequestedOutput] | None = None


class InferOutputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: TensorData | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[InferOutputTensor]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool


class V2ModelEntry(BaseModel):
    name: str
    versions: list[str]
    """Every routed version; the first answers requests that pin none."""


class V2ModelList(BaseModel):
    models: list[V2ModelEntry]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool
    """The gateway's own readiness (it serves), whatever its upstreams say."""
    unready: list[str] = []
    """``model@version`` of every upstream that did not answer ready (information only)."""


REQUEST_BODY_MODELS: tuple[type[BaseModel], ...] = (V1PredictRequest, InferenceRequest)
