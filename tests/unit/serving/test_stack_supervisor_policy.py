"""Pure parts of the stack supervisor: the port plan and the restart backoff policy."""

from __future__ import annotations

import socket

import pytest

from modelyard.errors import UnavailableError, UsageError
from modelyard.net import free_ports, is_port_free
from serving.stack.ports import plan_ports
from serving.stack.restarts import RestartBudget, RestartPolicy

ENDPOINTS = ["triton.http", "triton.grpc", "gateway.http"]


def always_free(host: str, port: int) -> bool:
    return True


def test_configured_ports_are_kept_and_the_rest_are_free_and_distinct() -> None:
    plan = plan_ports(ENDPOINTS, {"gateway.http": 18080}, port_is_free=always_free)
    assert plan["gateway.http"] == 18080
    assert set(plan) == set(ENDPOINTS)
    assert len(set(plan.values())) == len(ENDPOINTS)


def test_a_free_port_equal_to_a_configured_one_is_skipped() -> None:
    def free_ports(count: int, host: str) -> list[int]:
        return [18080, 20001, 20002][:count]

    plan = plan_ports(ENDPOINTS, {"gateway.http": 18080}, free_ports=free_ports, port_is_free=always_free)
    assert plan == {"gateway.http": 18080, "triton.http": 20001, "triton.grpc": 20002}


def test_one_port_for_two_endpoints_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="both"):
        plan_ports(ENDPOINTS, {"triton.http": 9000, "gateway.http": 9000}, port_is_free=always_free)


def test_an_unknown_endpoint_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown"):
        plan_ports(ENDPOINTS, {"qdrant.http": 6333}, port_is_free=always_free)


def test_a_busy_configured_port_is_reported_before_anything_starts() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert not is_port_free("127.0.0.1", busy)
        with pytest.raises(UnavailableError, match=f"port {busy}"):
            plan_ports(ENDPOINTS, {"gateway.http": busy})


def test_free_ports_are_distinct() -> None:
    ports = free_ports(20, "127.0.0.1")
    assert len(set(ports)) == 20


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(base_delay_s=1.0, max_delay_s=5.0, max_restarts=10)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_budget_gives_up_after_max_restarts_within_the_window() -> None:
    budget = RestartBudget(RestartPolicy(base_delay_s=1.0, max_restarts=3, window_s=60.0))
    delays = [budget.on_crash(now) for now in (0.0, 1.0, 2.0)]
    assert delays == [1.0, 2.0, 4.0]
    assert budget.on_crash(3.0) is None


def test_crashes_older_than_the_window_are_forgiven() -> None:
    budget = RestartBudget(RestartPolicy(base_delay_s=1.0, max_restarts=2, window_s=10.0))
    assert budget.on_crash(0.0) == 1.0
    assert budget.on_crash(5.0) == 2.0
    assert budget.on_crash(100.0) == 1.0  # both earlier crashes left the window
