"""Config: routes from flags and files, settings as defaults, bad input named with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelyard.errors import UsageError
from modelyard.settings import Settings
from serving.gateway.config import Upstream, build_config, parse_route


def test_route_flag_parses_model_url_and_version() -> None:
    assert parse_route("visual-search=http://127.0.0.1:8091/@2") == (
        "visual-search",
        Upstream(url="http://127.0.0.1:8091", version="2"),
    )


@pytest.mark.parametrize("spec", ["moderation", "moderation=http://127.0.0.1:1", "=http://x@1", "m=@1"])
def test_malformed_route_flag_names_the_expected_form(spec: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_route(spec)
    assert "model=url[,url...]@version" in (raised.value.hint or "")


def test_route_flag_lists_replicas_of_one_version() -> None:
    model, upstream = parse_route("moderation=http://127.0.0.1:8092,http://127.0.0.1:8093/@3")
    assert model == "moderation"
    assert upstream == Upstream(url="http://127.0.0.1:8092", version="3", replicas=("http://127.0.0.1:8093",))
    assert upstream.urls == ("http://127.0.0.1:8092", "http://127.0.0.1:8093")


@pytest.mark.parametrize("spec", ["m=http://127.0.0.1:1,@2", "m=,http://127.0.0.1:1@2"])
def test_route_flag_refuses_an_empty_replica(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_route(spec)


def test_upstream_url_must_be_http() -> None:
    with pytest.raises(ValidationError):
        Upstream(url="not a url", version="1")


def test_settings_are_defaults_and_flags_override(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, gateway_port=9100, max_body_bytes=123, upstream_timeout_s=4)
    config = build_config(settings, None, ["ranking=http://127.0.0.1:8093@1"], port=9200)
    assert (config.port, config.max_body_bytes, config.upstream_timeout_s) == (9200, 123, 4)
    assert config.host == "127.0.0.1" and config.auth_enabled


def test_file_routes_and_flag_routes_combine_as_stable_then_canary(tmp_path: Path) -> None:
    file_data = {"routes": {"ranking": [{"url": "http://127.0.0.1:8093", "version": "1"}]}, "port": 9300}
    config = build_config(Settings(state_dir=tmp_path), file_data, ["ranking=http://127.0.0.1:8094@2"])
    assert [u.version for u in config.routes["ranking"]] == ["1", "2"]
    assert config.port == 9300


def test_a_version_listed_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="twice"):
        build_config(Settings(state_dir=tmp_path), None, ["m=http://127.0.0.1:1@1", "m=http://127.0.0.1:2@1"])


def test_no_routes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        build_config(Settings(state_dir=tmp_path), None, [])


def test_config_file_must_not_hold_a_key(tmp_path: Path) -> None:
    from serving.gateway.config import read_config_file

    config_file = tmp_path / "gateway.yaml"
    config_file.write_text("api_key: secret\nroutes: {}\n")
    with pytest.raises(UsageError, match="api_key"):
        read_config_file(config_file)
