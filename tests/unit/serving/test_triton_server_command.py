"""How ``tritonserver`` is launched: argv, environment and backend folder (no server started)."""

from __future__ import annotations

import socket
import sys
import sysconfig
from pathlib import Path

import pytest

from modelyard.errors import NotFoundError, UnavailableError, UsageError
from modelyard.net import free_ports
from modelyard.settings import Settings
from serving.triton.installation import (
    TritonInstallation,
    find_installation,
    prepare_backend_directory,
    server_environment,
)
from serving.triton.server import TritonServer, build_command


def command(**overrides) -> list[str]:
    options = {
        "host": "127.0.0.1",
        "http_port": 8000,
        "grpc_port": 8001,
        "metrics_port": 8002,
        "model_control": "explicit",
        "load_models": ["a", "b"],
        "restricted_key": "k3y",
    } | overrides
    return build_command(Path("/bin/tritonserver"), Path("/repo"), Path("/backends"), **options)


def test_command_binds_every_endpoint_to_the_host_on_its_port() -> None:
    argv = command(host="10.0.0.5", http_port=9000, grpc_port=9001, metrics_port=9002)

    assert argv[0] == "/bin/tritonserver"
    for flag in (
        "--model-repository=/repo",
        "--backend-directory=/backends",
        "--http-address=10.0.0.5",
        "--http-port=9000",
        "--grpc-address=10.0.0.5",
        "--grpc-port=9001",
        "--allow-metrics=true",
        "--metrics-address=10.0.0.5",
        "--metrics-port=9002",
    ):
        assert flag in argv


def test_apis_that_change_the_server_need_the_key_on_http_and_grpc() -> None:
    """The flag syntax tritonserver 2.51 parses: ``<apis>:<header>=<value>`` (tested live in
    tests/integration/test_hardening_stack.py)."""
    argv = command()
    setting = "model-repository,shared-memory,logging,trace:x-modelyard-triton-key=k3y"
    assert f"--http-restricted-api={setting}" in argv
    assert f"--grpc-restricted-protocol={setting}" in argv


def test_two_servers_never_share_python_backend_shared_memory_names() -> None:
    def prefix(argv: list[str]) -> str:
        return next(a for a in argv if a.startswith("--backend-config=python,shm-region-prefix-name="))

    assert prefix(command(grpc_port=9001)) != prefix(command(grpc_port=9101))


def test_model_stubs_get_longer_than_tritons_default_to_start() -> None:
    """Triton kills a stub that is not up in ``stub-timeout-seconds`` (default 30) and then aborts."""
    timeouts = [a for a in command() if a.startswith("--backend-config=python,stub-timeout-seconds=")]

    assert len(timeouts) == 1
    assert int(timeouts[0].rsplit("=", 1)[1]) > 30


def test_explicit_mode_loads_the_named_models() -> None:
    argv = command()

    assert "--model-control-mode=explicit" in argv
    assert [a for a in argv if a.startswith("--load-model")] == ["--load-model=a", "--load-model=b"]


def test_explicit_mode_without_a_list_loads_everything_and_empty_list_nothing() -> None:
    assert [a for a in command(load_models=None) if a.startswith("--load-model")] == ["--load-model=*"]
    assert [a for a in command(load_models=[]) if a.startswith("--load-model")] == []


def test_none_mode_loads_the_whole_repository_itself() -> None:
    argv = command(model_control="none")

    assert "--model-control-mode=none" in argv
    assert not [a for a in argv if a.startswith("--load-model")]


def test_unknown_model_control_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        command(model_control="poll")


def test_wheel_environment_puts_this_interpreter_first(tmp_path: Path) -> None:
    installation = TritonInstallation(
        tmp_path / "bin/tritonserver", tmp_path / "backends", tmp_path / "tritonserver"
    )

    env = server_environment(installation, {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib", "KEEP": "1"})

    assert env["LD_LIBRARY_PATH"].split(":")[0] == sysconfig.get_config_var("LIBDIR")
    assert env["LD_LIBRARY_PATH"].split(":")[-1] == "/opt/lib"
    assert env["PATH"].split(":") == [str(Path(sys.executable).parent), "/usr/bin"]
    assert env["KEEP"] == "1"


def test_official_image_environment_is_left_alone() -> None:
    installation = TritonInstallation(
        Path("/opt/tritonserver/bin/tritonserver"), Path("/opt/tritonserver/backends")
    )

    assert server_environment(installation, {"PATH": "/usr/bin"}) == {"PATH": "/usr/bin"}
    assert prepare_backend_directory(installation, Path("/unused")) == Path("/opt/tritonserver/backends")


def test_backend_directory_links_the_wheel_backend_and_the_matching_stub(tmp_path: Path) -> None:
    installation = find_installation()
    assert installation.binary.is_file() and installation.wheel_root is not None

    backends = prepare_backend_directory(installation, tmp_path / "backends")
    prepare_backend_directory(installation, tmp_path / "backends")  # idempotent

    python_dir = backends / "python"
    assert sorted(p.name for p in python_dir.iterdir()) == [
        "libtriton_python.so",
        "triton_python_backend_stub",
        "triton_python_backend_utils.py",
    ]
    stub = (python_dir / "triton_python_backend_stub").resolve()
    assert stub.parent.name == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert all(p.is_symlink() and p.exists() for p in python_dir.iterdir())


def test_start_refuses_a_busy_port_before_launching(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other, metrics = free_ports(2)
        server = TritonServer(
            tmp_path / "repo",
            http_port=port,
            grpc_port=other,
            metrics_port=metrics,
            settings=Settings(state_dir=tmp_path),
        )
        with pytest.raises(UnavailableError, match=f"port {port}"):
            server.start()
    assert not server.is_running()


def test_start_needs_an_existing_repository(tmp_path: Path) -> None:
    server = TritonServer(tmp_path / "nowhere", settings=Settings(state_dir=tmp_path))

    with pytest.raises(NotFoundError):
        server.start()


def test_urls_use_loopback_when_bound_to_all_interfaces(tmp_path: Path) -> None:
    server = TritonServer(
        tmp_path,
        host="0.0.0.0",
        http_port=1,
        grpc_port=2,
        metrics_port=3,
        settings=Settings(state_dir=tmp_path),
    )

    assert (server.url, server.grpc_url, server.metrics_url) == (
        "http://127.0.0.1:1",
        "127.0.0.1:2",
        "http://127.0.0.1:3/metrics",
    )
