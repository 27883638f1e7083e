"""Request bodies the gateway accepts: size (413), content type (415), well-formed JSON and V2
tensors (400).

Checked at the gateway so a client mistake is always a 4xx with a clear message, whatever
the model server behind would have done with it. Bodies are forwarded byte for byte.

A JSON body sent as form data is accepted: ``curl -d '{...}'`` (the way most API examples are
written) labels its body ``application/x-www-form-urlencoded``. kserve 0.21 itself hands such a
body to the model as raw bytes on V1 and answers 400 on V2; here it counts as JSON when it parses
as JSON, and is forwarded labelled ``application/json`` (``is_form_encoded``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping

import orjson

from serving.protocol.v2 import V2RequestError, check_infer_request, is_ascii_decimal, parse_binary_request

from .errors import GatewayError

BINARY_HEADER_LENGTH = "inference-header-content-length"
FORM_ENCODED = "application/x-www-form-urlencoded"


async def _read_limited_body(
    headers: Mapping[str, str], chunks: AsyncIterable[bytes], max_bytes: int, limit_name: str
) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``max_bytes``.

    A declared Content-Length is judged before reading anything; a chunked body is counted
    while it streams in, so an oversized upload is never buffered whole.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not is_ascii_decimal(declared):
            raise GatewayError(400, f"invalid Content-Length {declared!r}")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes, limit_name)
    parts: list[bytes] = []
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes, limit_name)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(max_bytes: int, limit_name: str) -> GatewayError:
    return GatewayError(413, f"request body exceeds the {max_bytes}-byte limit ({limit_name})")


async def read_model_input(
    headers: Mapping[str, str],
    chunks: AsyncIterable[bytes],
    max_bytes: int,
    v2_infer: bool,
    limit_name: str = "MODELYARD_MAX_BODY_BYTES",
) -> bytes:
    """The body (``chunks``, not read yet) once it is known to be JSON of an acceptable size.

    ``v2_infer``: a V2 inference request, which may be a JSON header followed by raw tensor bytes
    (``Inference-Header-Content-Length``; then only the header part must be JSON), and whose
    tensors must add up (``serving.protocol.v2``).
    """
    binary_length = headers.get(BINARY_HEADER_LENGTH) if v2_infer else None
    form_encoded = False
    if binary_length is None:
        form_encoded = _require_json_content_type(headers.get("content-type"))
    body = await _read_limited_body(headers, chunks, max_bytes, limit_name)
    try:
        if binary_length is not None:
            check_infer_request(*parse_binary_request(body, binary_length))
            return body
        parsed = _parsed_json(body, form_encoded)
        if v2_infer:
            check_infer_request(parsed, None)
    except V2RequestError as exc:
        raise GatewayError(400, str(exc)) from None
    return body


def _parsed_json(body: bytes, form_encoded: bool) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if form_encoded and body.lstrip()[:1] not in (b"{", b"["):
            raise GatewayError(
                415, f"content type {FORM_ENCODED!r} with form fields is not supported here; send a JSON body"
            ) from None
        raise GatewayError(400, f"malformed JSON body: {exc}") from None


def is_form_encoded(headers: Mapping[str, str]) -> bool:
    """True when the body came labelled as form data (and, once read, holds JSON)."""
    return _media_type(headers.get("content-type")) == FORM_ENCODED


def _require_json_content_type(content_type: str | None) -> bool:
    """Refuse a body that is not JSON by its type; True when it came form-encoded (JSON if it parses).

    No content type is read as JSON: tritonclient's JSON requests send none.
    """
    media_type = _media_type(content_type)
    if media_type is None or media_type == "application/json" or media_type.endswith("+json"):
        return False
    if media_type == FORM_ENCODED:
        return True
    raise GatewayError(415, f"content type {media_type!r} is not supported here; send application/json")


def _media_type(content_type: str | None) -> str | None:
    return None if content_type is None else content_type.split(";", 1)[0].strip().lower()
