"""kserve's ModelServer, bound to one host instead of every interface.

kserve 0.21 hard-codes the all-interfaces address for REST (``uvicorn.Config(host=...)`` in ``RESTServer``)
and ``[::]`` for gRPC (``GRPCServer.start``) and has no option for either. The platform binds
``settings.host`` (127.0.0.1 unless a container sets ``MODELYARD_HOST`` to all interfaces), so this
subclass changes exactly those two addresses and nothing else: ``start`` is kserve's
single-process start with the REST config's host set, and ``HostGRPCServer.start`` is kserve's
gRPC start with the listen address built from the host. One REST process only: kserve's
multi-worker mode forks its own server with its own hard-coded host.
"""

from __future__ import annotations

import asyncio
from concurrent import futures

from grpc import aio
from kserve import model_server
from kserve.model import BaseKServeModel
from kserve.model_server import ModelServer
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer

from modelyard.errors import UsageError


class HostGRPCServer(GRPCServer):
    """kserve's gRPC server listening on ``host:port`` rather than ``[::]:port``."""

    def __init__(self, host: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.host = host

    async def start(self, max_workers: int) -> None:
        servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
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

    def start(self, models: list[BaseKServeModel]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = RESTServer(
            model_server.FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
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
                self.model_repository_extension,
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
