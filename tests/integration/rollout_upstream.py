"""rollout_upstream: a stand-in model version for the rollout integration tests.

It stands in for a moderation transformer because these tests are about the rollout
machinery (gateway split, shadow, admin API, CLI, automated analysis), which needs
versions that can be told to be good, erroring or slow on demand; a real transformer
cannot be made to fail on cue. It answers KServe V1 predict with a deterministic
moderation decision per text, and V2 readiness.

    python -m tests.integration.rollout_upstream --port 9001 --version 2 [--error-rate 0.5] [--delay-ms 300]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def decision(text: str) -> dict:
    score = int.from_bytes(hashlib.sha256(text.encode()).digest()[:2], "big") / 65535
    verdict = "block" if score > 0.9 else "review" if score > 0.7 else "allow"
    return {"decision": verdict, "reason": "stand-in", "scores": {"spam": round(score, 4)}}


def stand_in_app(version: str, error_rate: float, delay_s: float) -> FastAPI:
    app = FastAPI()
    stamp = {"x-modelyard-version": version}

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> JSONResponse:
        body = await request.json()
        if delay_s:
            await asyncio.sleep(delay_s)
        if random.random() < error_rate:
            return JSONResponse(
                {"error": f"version {version} failed on purpose"}, status_code=500, headers=stamp
            )
        texts = [item["text"] for item in body["instances"]]
        return JSONResponse({"predictions": [decision(t) for t in texts]}, headers=stamp)

    @app.get("/v2/models/{name}/ready")
    async def ready(name: str) -> JSONResponse:
        return JSONResponse({"name": name, "ready": True}, headers=stamp)

    @app.get("/v2/health/ready")
    async def health() -> JSONResponse:
        return JSONResponse({"ready": True})

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    app = stand_in_app(args.version, args.error_rate, args.delay_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
