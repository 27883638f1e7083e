"""Gateway test fixtures: real echo upstreams on loopback, the gateway app in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from serving.gateway.config import Upstream
from tests.unit.serving.echo_upstream import running_echo_upstream
from tests.unit.serving.gateway_harness import MODELS, GatewayFactory, config_for, gateway_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, FastAPI]]:
    """One echo upstream (reports no version of its own) shared by a test module."""
    with running_echo_upstream() as served:
        yield served


@pytest.fixture
def gateway(echo: tuple[str, FastAPI]) -> GatewayFactory:
    """Builds a gateway routing the three models to the echo upstream as version 1.

    Call it as ``async with gateway(authenticated=False, max_body_bytes=10) as client``.
    """
    url, _ = echo

    def build(authenticated: bool = True, **overrides: object):
        routes = {model: [Upstream(url=url, version="1")] for model in MODELS}
        return gateway_client(config_for(routes, **overrides), authenticated)

    return build
