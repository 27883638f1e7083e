"""Loopback port helpers and the bind-host → client-host mapping."""

import socket

import pytest

from modelyard.net import client_host, free_ports, is_port_free


@pytest.mark.parametrize(
    "bind,reach",
    [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"),
     ("10.0.0.5", "10.0.0.5"), ("gateway.modelyard.svc", "gateway.modelyard.svc")],
)  # fmt: skip
def test_a_server_bound_everywhere_is_reached_on_loopback(bind: str, reach: str) -> None:
    assert client_host(bind) == reach


def test_free_ports_are_distinct_and_a_listening_port_is_busy() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5 and all(is_port_free("127.0.0.1", p) for p in ports)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[0]))
        listener.listen()
        assert not is_port_free("127.0.0.1", ports[0])
