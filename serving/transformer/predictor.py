"""The Triton predictor as the transformers see it: named models at a pinned version over the
Open Inference Protocol (gRPC or REST v2), tensors in and out as numpy.

kserve's default ``Model.predict`` calls one predictor model named like the transformer; our
pipelines call several Triton models (and Qdrant in between), so they go through this client.
It uses kserve's own ``InferenceGRPCClient`` / ``InferenceRESTClient``: ``tritonclient.grpc``
cannot be imported next to kserve (duplicate protobuf symbols).
"""

from __future__ import annotations

from typing import Protocol

import grpc
import httpx
import numpy as np
from kserve.errors import InferenceError
from kserve.inference_client import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

from serving.transformer.errors import ServiceUnavailable

PROTOCOLS = ("grpc-v2", "v2")
_DATATYPES = {np.dtype("float32"): "FP32", np.dtype("int64"): "INT64"}
_MISSING_MODEL_MARKERS = ("unknown model", "is not found", "not ready", "no version")


class Predictor(Protocol):
    """What a transformer asks of its predictor; the serving benchmark's plain-KServe baseline
    (bench/plain_kserve.py) answers it with in-process TorchScript instead of Triton."""

    host: str
    protocol: str

    async def infer(
        self, model: str, version: str, inputs: dict[str, np.ndarray], request_id: str = ""
    ) -> dict[str, np.ndarray]: ...


class TritonPredictor:
    """One connection to Triton, shared by every request of a transformer process."""

    def __init__(self, host: str, protocol: str, timeout_s: float = 30.0) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"predictor protocol {protocol!r}: use one of {PROTOCOLS}")
        self.host, self.protocol, self.timeout_s = host, protocol, timeout_s
        self._grpc: InferenceGRPCClient | None = None
        self._rest: InferenceRESTClient | None = None

    async def infer(
        self, model: str, version: str, inputs: dict[str, np.ndarray], request_id: str = ""
    ) -> dict[str, np.ndarray]:
        """Run ``model`` version ``version`` on named float32/int64 arrays; returns every output."""
        tensors = []
        for name, array in inputs.items():
            tensor = InferInput(name, list(array.shape), _DATATYPES[array.dtype])
            # Binary: raw bytes on gRPC (raw_input_contents) and REST; the alternative turns every
            # element into a Python number first, the largest cost of a request in profiles.
            tensor.set_data_from_numpy(array, binary_data=True)
            tensors.append(tensor)
        request = InferRequest(model, tensors, request_id=request_id or None, model_version=version)
        try:
            response = await self._call(model, version, request)
        except grpc.aio.AioRpcError as error:
            raise self._grpc_failure(model, version, error) from error
        except httpx.HTTPStatusError as error:
            raise self._http_failure(model, version, error) from error
        except httpx.TransportError as error:
            raise ServiceUnavailable(
                f"the Triton predictor at {self.host} is unreachable: {error!r}"
            ) from error
        return {output.name: output.as_numpy() for output in response.outputs}

    async def _call(self, model: str, version: str, request: InferRequest):
        if self.protocol == "grpc-v2":
            if self._grpc is None:
                self._grpc = InferenceGRPCClient(self.host, timeout=self.timeout_s, retries=2)
            return await self._grpc.infer(request)
        if self._rest is None:
            self._rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=self.timeout_s, retries=2))
        # The v2 REST path of a pinned version is /v2/models/<name>/versions/<v>/infer.
        return await self._rest.infer(
            f"http://{self.host}", request, model_name=f"{model}/versions/{version}"
        )

    def _grpc_failure(self, model: str, version: str, error: grpc.aio.AioRpcError) -> Exception:
        code, details = error.code(), error.details() or str(error)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return ServiceUnavailable(f"the Triton predictor at {self.host} is unreachable: {details}")
        return self._model_failure(model, version, details)

    def _http_failure(self, model: str, version: str, error: httpx.HTTPStatusError) -> Exception:
        if error.response.status_code in (502, 503, 504):
            return ServiceUnavailable(
                f"the Triton predictor at {self.host} answered {error.response.status_code}"
            )
        return self._model_failure(model, version, str(error))

    def _model_failure(self, model: str, version: str, details: str) -> Exception:
        if any(marker in details.lower() for marker in _MISSING_MODEL_MARKERS):
            return ServiceUnavailable(
                f"Triton at {self.host} has no ready model {model!r} version {version}: {details} "
                f"(copy the version into the serving repository and load it)"
            )
        return InferenceError(f"Triton model {model!r} version {version} failed: {details}")

    async def close(self) -> None:
        for client in (self._grpc, self._rest):
            if client is not None:
                await client.close()
        self._grpc = self._rest = None
