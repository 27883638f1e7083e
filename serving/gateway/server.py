"""Run the gateway under uvicorn with a graceful drain on SIGTERM."""

from __future__ import annotations

import signal

import uvicorn

from .app import create_app
from .config import GatewayConfig


def serve(config: GatewayConfig) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests (up to ``drain_timeout_s``).

    uvicorn re-raises the signal it drained on, with the handler that was installed before
    it started. Ignoring handlers make that a normal exit (code 0): the drain is done.
    """
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            timeout_graceful_shutdown=config.drain_timeout_s,
            log_config=None,  # keep modelyard.logs' structured format
            access_log=False,  # the gateway logs one line per request itself
            server_header=False,
        )
    )
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, lambda *_: None)
    server.run()
