"""kserve's ModelServer, bound to one host, serving inference only.

kserve 0.21 hard-codes the all-interfaces address for REST (``uvicorn.Config(host=...)`` in ``RESTServer``)
and ``[::]`` for gRPC (``GRPCServer.start``) and has no option for either. The platform binds
``settings.host`` (127.0.0.1 unless a container sets ``MODELYARD_HOST`` to all interfaces), so this
subclass changes exactly those two addresses: ``start`` is kserve's single-process start with the
REST config's host set, and ``HostGRPCServer.start`` is kserve's gRPC start with the listen address
built from the host. One REST process only: kserve's multi-worker mode forks its own server with
its own hard-coded host.

Two more changes make a transformer serve inference and nothing else:

- kserve's model-repository extension (``POST /v2/repository/models/{m}/load|unload``, and the
  gRPC ``RepositoryModelLoad|Unload``) is always registered, with no auth: anyone who reached a
  transformer could unload its model while its health stayed 200. Those calls are refused (REST:
  404, gRPC: UNIMPLEMENTED); a version is changed by a rollout, never in place.
- V2 requests are checked (``serving.protocol.v2``) before they are decoded, binary tensors are
  decoded here (kserve's decoder refused non-UTF-8 BYTES with a 500), and anything kserve's JSON
  decoding still trips on is a 400, never a 500 with a Python traceback in its body.
"""

from __future__ import annotations

import asyncio
import struct
from concurrent import futures
from typing import Any

import fastapi
import grpc
import numpy as np
from grpc import aio
from kserve import model_server
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput
from kserve.model import BaseKServeModel
from kserve.model_server import ModelServer
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import (
    InferInput,
    InferRequest,
    RequestedOutput,
    deserialize_bytes_tensor,
)
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import to_np_dtype
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.errors import UsageError
from serving.protocol.v2 import V2RequestError, check_infer_request, parse_binary_request

REPOSITORY_PREFIX = "/v2/repository"
NO_REPOSITORY = "a transformer has no model repository API: roll out a new version instead"
_DECODER_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, struct.error)
"""What kserve's V2 decoding raises on input it did not expect (the checks catch most first)."""


class CheckedDataPlane(DataPlane):
    """kserve's data plane with V2 requests checked first (``InvalidInput``: 400) and binary
    tensors kept binary.

    kserve 0.21 turns every binary input back into JSON values after reading it, so a BYTES
    element that is not UTF-8 text (an encoded image) failed with a 500; binary requests are
    decoded here instead, each tensor's bytes handed to the model as they came.
    """

    def decode_inference_request(self, body: Any, headers: dict[str, str], model_name: str) -> InferRequest:
        try:
            if isinstance(body, bytes):
                return _binary_request(body, headers.get(INFERENCE_CONTENT_LENGTH_HEADER), model_name)
            return super().decode_inference_request(body, headers, model_name)
        except V2RequestError as error:
            raise InvalidInput(str(error)) from None
        except _DECODER_ERRORS as error:
            raise InvalidInput(f"malformed V2 request: {type(error).__name__}: {error}") from error


def _binary_request(body: bytes, header_length: str | None, model_name: str) -> InferRequest:
    """A checked binary V2 request (a JSON header, then each input's bytes in order)."""
    if header_length is None:
        raise V2RequestError(f"a binary V2 request needs {INFERENCE_CONTENT_LENGTH_HEADER}")
    header, binary = parse_binary_request(body, header_length)
    check_infer_request(header, binary)
    inputs, offset = [], 0
    for tensor in header["inputs"]:
        infer_input = InferInput(
            tensor["name"], tensor["shape"], tensor["datatype"], tensor.get("parameters")
        )
        if "data" in tensor:
            infer_input.data = tensor["data"]
        else:
            size = tensor["parameters"]["binary_data_size"]
            infer_input.set_data_from_numpy(_array(tensor, binary[offset : offset + size]), binary_data=True)
            offset += size
        inputs.append(infer_input)
    outputs = [RequestedOutput(o["name"], o.get("parameters")) for o in header.get("outputs") or []]
    return InferRequest(
        model_name,
        inputs,
        request_id=header.get("id"),
        parameters=header.get("parameters"),
        request_outputs=outputs or None,
    )


def _array(tensor: dict[str, Any], raw: memoryview) -> np.ndarray:
    if tensor["datatype"] == "BYTES":
        return deserialize_bytes_tensor(bytes(raw)).reshape(tensor["shape"])
    return np.frombuffer(raw, dtype=to_np_dtype(tensor["datatype"])).reshape(tensor["shape"])


class InferenceOnlyServicer(InferenceServicer):
    """kserve's gRPC servicer with the model-repository calls refused."""

    async def RepositoryModelLoad(self, request: Any, context: aio.ServicerContext) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, NO_REPOSITORY)

    async def RepositoryModelUnload(self, request: Any, context: aio.ServicerContext) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, NO_REPOSITORY)


class NoRepositoryRoutes:
    """ASGI middleware answering 404 for kserve's model-repository paths, whatever the method.

    kserve registers those routes unconditionally, and FastAPI 0.165 keeps included routers
    behind private wrappers, so they are refused in front of the app rather than removed from it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(REPOSITORY_PREFIX):
            await JSONResponse({"error": NO_REPOSITORY}, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class InferenceOnlyRESTServer(RESTServer):
    """kserve's REST server with the model-repository routes refused (404)."""

    def _add_middlewares(self, app: fastapi.FastAPI) -> None:
        super()._add_middlewares(app)
        app.add_middleware(NoRepositoryRoutes)


class HostGRPCServer(GRPCServer):
    """kserve's gRPC server listening on ``host:port`` rather than ``[::]:port``."""

    def __init__(self, host: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.host = host

    async def start(self, max_workers: int) -> None:
        servicer = InferenceOnlyServicer(self._data_plane, None)
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length")),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        self._server.add_insecure_port(f"{_grpc_host(self.host)}:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class HostModelServer(ModelServer):
    """A ModelServer whose REST and gRPC servers bind ``host``."""

    def __init__(self, host: str, **kwargs) -> None:
        if kwargs.pop("workers", 1) != 1:
            raise UsageError(
                "--workers must be 1 for a transformer", hint="scale with more transformer processes"
            )
        # Log through the root logger (modelyard.logs) instead of kserve's own handlers.
        model_server.args.configure_logging = False
        super().__init__(workers=1, **kwargs)
        self.host = host
        self.dataplane = CheckedDataPlane(model_registry=self.registered_models)

    def start(self, models: list[BaseKServeModel]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = InferenceOnlyRESTServer(
            model_server.FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            None,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
        )
        self._rest_server.config.host = self.host
        self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = HostGRPCServer(
                self.host,
                self.grpc_port,
                self.dataplane,
                None,
                kwargs=vars(model_server.args),
                grace_period=self.grace_period,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def _grpc_host(host: str) -> str:
    """gRPC wants IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
