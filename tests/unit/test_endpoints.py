"""Addresses and version labels every upstream, rollout variant and allow-list entry must have."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from modelyard.endpoints import AllowedOrigin, BaseUrl, VersionLabel, allows, base_url, origin

BASE_URL = TypeAdapter(BaseUrl)
VERSION = TypeAdapter(VersionLabel)
ORIGIN = TypeAdapter(AllowedOrigin)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8091",
        "https://ranking-transformer.modelyard.svc",
        "http://[::1]:9/prefix/",
        "HTTP://Host:80",
    ],
)
def test_plain_base_urls_are_taken_without_the_trailing_slash(url: str) -> None:
    assert base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/x?y=1#", "query or fragment"),
        ("http://127.0.0.1:9/#", "query or fragment"),
        ("http://127.0.0.1:9/?", "query or fragment"),
        ("http://user:pw@127.0.0.1:9", "user info"),
        ("http://user@127.0.0.1:9", "user info"),
        ("not a url", "spaces"),
        ("ftp://127.0.0.1/x", "http:// or https://"),
        ("http://", "http:// or https://"),
        ("http://127.0.0.1:99999", "not valid"),
        ("http://127.0.0.1:9\r\nx: y", "control"),
        ("http://exämple.com", "non-ASCII"),
        ("http://" + "a" * 2050, "2048"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        base_url(url)
    with pytest.raises(ValidationError):
        BASE_URL.validate_python(url)


@pytest.mark.parametrize("version", ["1", "42", "v1.2-rc_3", "a" * 64])
def test_plain_versions_pass(version: str) -> None:
    assert VERSION.validate_python(version) == version


@pytest.mark.parametrize("version", ["", "9€", "9\r\nx: y", "-1", ".hidden", "a" * 65, "1 2", "9/../x"])
def test_versions_that_could_break_a_header_or_a_path_are_refused(version: str) -> None:
    with pytest.raises(ValidationError):
        VERSION.validate_python(version)


@pytest.mark.parametrize(
    ("entry", "url", "allowed"),
    [
        ("http://127.0.0.1", "http://127.0.0.1:40123", True),
        ("http://127.0.0.1", "http://127.0.0.1", True),
        ("http://127.0.0.1:8091", "http://127.0.0.1:8091/", True),
        ("http://127.0.0.1:8091", "http://127.0.0.1:8092", False),
        ("http://127.0.0.1", "https://127.0.0.1:443", False),
        ("https://models.example", "https://models.example:443/v", True),
        ("http://127.0.0.1", "http://127.0.0.10:80", False),
        ("http://127.0.0.1", "http://localhost:80", False),
    ],
)
def test_an_origin_admits_its_host_and_port(entry: str, url: str, allowed: bool) -> None:
    assert allows(entry, url) is allowed


@pytest.mark.parametrize("entry", ["http://127.0.0.1/path", "http://h?x", "http://u@h", "h:80", "*"])
def test_allow_list_entries_are_origins_only(entry: str) -> None:
    with pytest.raises(ValidationError):
        ORIGIN.validate_python(entry)


def test_origin_normalises_case_and_keeps_brackets() -> None:
    assert origin("HTTP://Models.Example:8080/x") == "http://models.example:8080"
    assert origin("http://[::1]:9") == "http://[::1]:9"
