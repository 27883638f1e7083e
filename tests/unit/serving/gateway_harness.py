"""Helpers for gateway tests: a config with the test key, the app behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from serving.gateway.app import create_app
from serving.gateway.config import GatewayConfig, Upstream

API_KEY = "test-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
ADMIN = {"x-api-key": ADMIN_KEY}
"""Headers for the admin routes and /metrics (the client key gets 403 there)."""
MODELS = ("visual-search", "moderation", "ranking")
LOOPBACK = ("http://127.0.0.1",)
"""Allow-list for rollouts whose candidates are stand-in upstreams on loopback ports."""

GatewayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def config_for(routes: dict[str, list[Upstream]], **overrides: object) -> GatewayConfig:
    """A gateway config with auth on and the test keys, unless overridden."""
    keys = {"api_key": SecretStr(API_KEY), "admin_key": SecretStr(ADMIN_KEY)}
    return GatewayConfig(routes=routes, **{**keys, **overrides})


@asynccontextmanager
async def gateway_client(
    config: GatewayConfig, authenticated: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``create_app(config)`` in-process, lifespan included."""
    async with app_client(create_app(config), authenticated) as client:
        yield client


@asynccontextmanager
async def app_client(
    app: FastAPI, authenticated: bool = True, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a gateway ``app`` built by the test, lifespan included."""
    headers = {"x-api-key": API_KEY} if authenticated else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers) as client,
    ):
        yield client
