"""Port plan of the stack: configured ports are kept, the rest come free from the OS.

Every port is chosen before any process starts, so a clash is reported up front with the
flag that fixes it instead of as a half-started stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from modelyard.errors import UnavailableError, UsageError
from modelyard.net import free_ports, is_port_free


def plan_ports(
    names: Sequence[str],
    configured: Mapping[str, int],
    host: str = "127.0.0.1",
    free_ports: Callable[[int, str], list[int]] = free_ports,
    port_is_free: Callable[[str, int], bool] = is_port_free,
) -> dict[str, int]:
    """One port per name: ``configured`` ones (checked free and distinct), others from ``free_ports``."""
    unknown = sorted(set(configured) - set(names))
    if unknown:
        raise UsageError(f"ports given for unknown endpoints {unknown}", hint=f"known: {list(names)}")
    taken: dict[int, str] = {}
    for name, port in configured.items():
        if not 1 <= port <= 65535:
            raise UsageError(f"port {port} for {name} is out of range", hint="use 1-65535")
        if port in taken:
            raise UsageError(
                f"port {port} is given to both {taken[port]} and {name}", hint="give each its own"
            )
        if not port_is_free(host, port):
            raise UnavailableError(
                f"port {port} on {host} ({name}) is busy",
                hint="stop whatever listens there (yard serve stop?) or choose another port",
            )
        taken[port] = name
    missing = [name for name in names if name not in configured]
    fresh = [port for port in free_ports(len(missing) + len(taken), host) if port not in taken][
        : len(missing)
    ]
    if len(fresh) < len(missing):
        raise UnavailableError("the OS handed out too few free ports", hint="retry")
    return {**dict(configured), **dict(zip(missing, fresh, strict=True))}
