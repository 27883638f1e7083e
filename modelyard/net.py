"""Loopback port helpers shared by the Triton launcher, the stack supervisor and the tests."""

from __future__ import annotations

import ipaddress
import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS says are free right now (all sockets held together: no duplicates)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def is_port_free(host: str, port: int) -> bool:
    """True when ``port`` on ``host`` can be bound (TIME_WAIT is not "busy")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def client_host(bind_host: str) -> str:
    """Where a client on this machine reaches a server bound to ``bind_host``: a server bound to
    every interface (unspecified address, or empty) is reached on loopback."""
    if not bind_host:
        return "127.0.0.1"
    try:
        unspecified = ipaddress.ip_address(bind_host).is_unspecified
    except ValueError:  # a host name
        return bind_host
    return "127.0.0.1" if unspecified else bind_host


def is_loopback(bind_host: str) -> bool:
    """True when a server bound to ``bind_host`` is reachable from this machine only: a loopback
    address or ``localhost``. The unspecified address of either family (every interface), an empty
    host, and any other name or address are reachable from the network."""
    if bind_host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind_host.strip("[]")).is_loopback
    except ValueError:  # another host name: it resolves to who knows what
        return False
