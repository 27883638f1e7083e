"""echo_upstream: a tiny real HTTP server that stands in for a KServe transformer.

It exists because the gateway tests are about the gateway only (auth, routing, limits,
headers, metrics, draining): they need a real upstream on a loopback port, not a model.
It answers the KServe V1/V2 paths the gateway forwards to, echoing what it received, and
can be told (by query parameters) to be slow or to refuse, to exercise those paths.

Run as a process for integration tests:
``python -m tests.unit.serving.echo_upstream --port 8091 [--version-header 7]``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.loopback import serving_in_thread


def echo_app(version_header: str | None = None, ready: bool = True) -> FastAPI:
    """An upstream that serves any model name; ``version_header`` mimics a transformer that
    reports its own version; ``ready=False`` mimics one still loading."""
    app = FastAPI()
    app.state.hits = 0
    stamped = {"x-modelyard-version": version_header} if version_header else {}

    async def answer(request: Request, body: dict[str, Any]) -> Response:
        app.state.hits += 1
        if "delay" in request.query_params:
            await asyncio.sleep(float(request.query_params["delay"]))
        if "status" in request.query_params:
            status = int(request.query_params["status"])
            return JSONResponse({"error": f"echo refused with {status}"}, status_code=status, headers=stamped)
        body["seen_headers"] = dict(request.headers)
        return JSONResponse(body, headers=stamped)

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> Response:
        payload = await request.json()
        return await answer(request, {"predictions": payload.get("instances", []), "model": name})

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        raw = await request.body()
        return await answer(
            request,
            {
                "model_name": name,
                "outputs": [
                    {"name": "received_bytes", "shape": [1], "datatype": "INT64", "data": [len(raw)]}
                ],
            },
        )

    @app.get("/v2/models/{name}")
    async def metadata(name: str, request: Request) -> Response:
        return await answer(request, {"name": name, "platform": "echo", "inputs": [], "outputs": []})

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        return JSONResponse(
            {"name": name, "ready": ready}, status_code=200 if ready else 503, headers=stamped
        )

    return app


@contextmanager
def running_echo_upstream(
    version_header: str | None = None, ready: bool = True
) -> Iterator[tuple[str, FastAPI]]:
    """Serve an echo upstream on a free loopback port in a thread; yields (base URL, app)."""
    app = echo_app(version_header, ready)
    with serving_in_thread(app) as url:
        yield url, app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version-header")
    args = parser.parse_args()
    uvicorn.run(echo_app(args.version_header), host="127.0.0.1", port=args.port, log_level="warning")
