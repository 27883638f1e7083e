"""The gateway: one authenticated HTTP entry point that routes to each model's upstreams."""

from .app import create_app
from .config import GatewayConfig, Upstream, build_config, parse_route
from .server import serve

__all__ = ["GatewayConfig", "Upstream", "build_config", "create_app", "parse_route", "serve"]
