"""``yard query``'s pure parts: request bodies, the API key lookup, HTTP errors -> exit codes."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from modelyard.errors import ModelyardError, NotFoundError, UnavailableError, UsageError
from modelyard.settings import Settings, get_settings
from serving.stack.client import http_error, read_api_key
from yard.main import app
from yard.query import moderation_body, ranking_body, visual_search_body


def test_visual_search_body_by_image_with_a_label_filter() -> None:
    body = visual_search_body(b"\x89PNG...", k=3, label=7)
    assert body == {
        "instances": [{"image_b64": base64.b64encode(b"\x89PNG...").decode()}],
        "k": 3,
        "filter": {"label": 7},
    }


def test_visual_search_body_by_id() -> None:
    assert visual_search_body(point_id=12) == {"instances": [{"id": 12}], "k": 10}


@pytest.mark.parametrize("arguments", [{}, {"image": b"x", "point_id": 1}])
def test_visual_search_needs_exactly_one_query(arguments: dict) -> None:
    with pytest.raises(UsageError, match="exactly one"):
        visual_search_body(**arguments)


def test_moderation_and_ranking_bodies() -> None:
    assert moderation_body("Subject: hi") == {"instances": [{"text": "Subject: hi"}]}
    assert ranking_body(42, n=5) == {"user_id": 42, "n": 5}


@pytest.mark.parametrize(
    ("status", "kind", "exit_code"),
    [(401, UsageError, 2), (404, NotFoundError, 3), (400, UsageError, 2), (503, UnavailableError, 5)],
)
def test_http_errors_carry_the_server_message_and_an_exit_code(
    status: int, kind: type, exit_code: int
) -> None:
    response = httpx.Response(status, json={"error": "the reason given by the server"})
    error = http_error("moderation", response)
    assert type(error) is kind and error.exit_code == exit_code
    assert error.message == f"moderation: HTTP {status}: the reason given by the server"
    assert error.hint


def test_a_server_message_that_names_its_fix_gets_that_fix_and_no_generic_one() -> None:
    response = httpx.Response(
        503,
        json={
            "error": "no collection or alias 'ranking__v3' in /q (fix: index it first: yard index ranking)"
        },
    )
    error = http_error("ranking", response)
    assert error.message == "ranking: HTTP 503: no collection or alias 'ranking__v3' in /q"
    assert error.hint == "index it first: yard index ranking"
    assert type(error) is UnavailableError


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            {"detail": [{"loc": ["body", "n"], "msg": "too big"}]},
            '[{"loc": ["body", "n"], "msg": "too big"}]',
        ),
        ({"unexpected": 1}, '{"unexpected": 1}'),
    ],
)
def test_a_structured_server_message_is_shown_as_json_not_a_python_repr(body: dict, shown: str) -> None:
    error = http_error("ranking", httpx.Response(422, json=body))
    assert error.message == f"ranking: HTTP 422: {shown}"


def test_an_unexpected_status_is_still_an_error_with_a_hint() -> None:
    error = http_error("ranking", httpx.Response(500, text="boom"))
    assert isinstance(error, ModelyardError) and "HTTP 500: boom" in error.message and error.hint


def test_the_key_comes_from_the_environment_before_the_file(tmp_path: Path) -> None:
    (tmp_path / "api_key").write_text("from-file\n")
    assert read_api_key(Settings(state_dir=tmp_path)) == "from-file"
    assert read_api_key(Settings(state_dir=tmp_path, api_key=SecretStr("from-env"))) == "from-env"


def test_a_missing_key_file_says_who_writes_it(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no API key") as caught:
        read_api_key(Settings(state_dir=tmp_path))
    assert "yard serve" in caught.value.hint
    assert read_api_key(Settings(state_dir=tmp_path), required=False) is None


def test_status_and_query_without_a_stack_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        for command in (["serve", "status"], ["query", "ranking", "--user", "1"]):
            result = CliRunner().invoke(app, command)
            assert isinstance(result.exception, NotFoundError), command
            assert "yard serve" in result.exception.hint
    finally:
        get_settings.cache_clear()
