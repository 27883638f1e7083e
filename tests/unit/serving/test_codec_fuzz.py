"""Property-based fuzzing of the request codecs and the moderation featurizer.

The contract under test: whatever a client sends, a codec either returns a parsed request or
raises ``InvalidInput`` (a 400 naming the field), never any other exception (a 500). The
strategies mix arbitrary JSON with the field names each codec knows, so examples get past the
first checks and reach the deep ones (pixels, filters, candidates, tensor shapes).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kserve.constants.constants import PredictorProtocol
from kserve.errors import InvalidInput
from kserve.model_repository import ModelRepository
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from pydantic import ValidationError

from serving.protocol.v2 import V2RequestError, check_infer_request, parse_binary_request
from serving.transformer.codecs import moderation, ranking, visual_search
from serving.transformer.codecs.common import MAX_INSTANCES
from serving.transformer.server import CheckedDataPlane
from tests import mutations
from training.moderation.preprocess import FeaturizerConfig, featurize, normalize_email

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CODEC_KEYS = [
    "instances", "text", "k", "filter", "image_b64", "pixels", "id",
    "user_id", "candidates", "context", "timestamp", "n", "gte", "lt", "label",
]  # fmt: skip
V2_NAMES = ["text", "image", "id", "user_id", "timestamp", "candidates"]
V2_DTYPES = ["BYTES", "FP32", "UINT8", "INT64", "INT32", "UINT64", "UINT32", "BOOL", "FP64", "weird"]

# Up to 10**300: still a float. Larger ints in a filter range are checked separately below
# (test_filter_bound_beyond_float_range_is_refused).
huge_ints = st.integers(min_value=-(10**300), max_value=10**300)
surrogate_text = st.binary(max_size=40).map(lambda raw: raw.decode("utf-8", errors="surrogateescape"))
base64_garbage = st.one_of(
    st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
    st.text(alphabet="ABCDEFabcdef0123456789+/=-_ ,:;data", max_size=40),
    st.just("data:image/png;base64,iVBORw0KGgo="),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=300),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    surrogate_text,
    base64_garbage,
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(CODEC_KEYS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=40,
)


def nested_lists(depth: int) -> list[Any]:
    """``[[[...]]]`` ``depth`` deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def odd_grid(fill: Any, odd: Any, row: int, column: int, rows: int, deep: int) -> list[Any]:
    """A ``rows`` x 28 grid of ``fill`` with one ``odd`` cell, and a ``deep``-nested last row if deep > 0."""
    grid: list[Any] = [[fill] * 28 for _ in range(rows)]
    if grid:
        grid[row % rows][column] = odd
    return [*grid[:-1], nested_lists(deep)] if deep and grid else grid


pixel_values = st.one_of(
    st.floats(), huge_ints, st.none(), st.text(max_size=2), st.lists(st.integers(), max_size=2)
)
pixel_grids = st.builds(
    odd_grid,
    fill=st.sampled_from([0, 0.5, 1, 255]) | st.floats(),
    odd=pixel_values,
    row=st.integers(0, 27),
    column=st.integers(0, 27),
    rows=st.sampled_from([0, 27, 28, 28, 28, 29]),
    deep=st.sampled_from([0, 0, 0, 1, 200]),
)


visual_search_bodies = st.fixed_dictionaries(
    {
        "instances": st.lists(
            st.one_of(
                st.fixed_dictionaries({"image_b64": st.one_of(base64_garbage, json_like)}),
                st.fixed_dictionaries({"pixels": st.one_of(pixel_grids, json_like)}),
                st.fixed_dictionaries({"id": st.one_of(huge_ints, json_like)}),
                json_like,
            ),
            max_size=4,
        )
    },
    optional={"k": json_like, "filter": json_like},
)
moderation_bodies = st.fixed_dictionaries(
    {"instances": st.lists(st.one_of(st.text(), surrogate_text, st.fixed_dictionaries({"text": json_like}),
                                     json_like), max_size=4)}
)  # fmt: skip
ranking_queries = st.fixed_dictionaries(
    {"user_id": st.one_of(huge_ints, json_like)},
    optional={
        "candidates": st.one_of(st.lists(st.one_of(huge_ints, json_like), max_size=8), json_like),
        "context": st.one_of(
            st.fixed_dictionaries({"timestamp": st.one_of(huge_ints, json_like)}), json_like
        ),
        "n": st.one_of(huge_ints, json_like),
    },
)
ranking_bodies = st.one_of(ranking_queries, st.fixed_dictionaries({"instances": st.lists(ranking_queries)}))

V1_PARSERS: dict[str, Callable[[Any], object]] = {
    "visual-search": visual_search.parse_v1,
    "moderation": moderation.parse_v1,
    "ranking": ranking.parse_v1,
}
V1_BODIES = {
    "visual-search": visual_search_bodies,
    "moderation": moderation_bodies,
    "ranking": ranking_bodies,
}
V2_PARSERS: dict[str, Callable[[InferRequest], object]] = {
    "visual-search": visual_search.parse_v2,
    "moderation": moderation.parse_v2,
    "ranking": ranking.parse_v2,
}


def parses_or_refuses(parse: Callable[[Any], object], payload: Any) -> object | None:
    """The parsed request, or None when the codec refused it with InvalidInput (anything else fails)."""
    try:
        return parse(payload)
    except InvalidInput:
        return None


def as_wire_bytes(body: Any) -> bytes:
    """The body as a client would send it (kserve passes raw bytes for non-JSON content types)."""
    return json.dumps(body, allow_nan=True).encode("utf-8", errors="surrogateescape")


@pytest.mark.parametrize("model", sorted(V1_PARSERS))
@FUZZ
@given(data=st.data())
def test_v1_codec_parses_or_refuses_any_body(model: str, data: st.DataObject) -> None:
    body = data.draw(st.one_of(V1_BODIES[model], json_like), label="body")
    parse = V1_PARSERS[model]
    parsed = parses_or_refuses(parse, body)
    parses_or_refuses(parse, as_wire_bytes(body))
    if isinstance(parsed, moderation.ModerationRequest):
        assert 1 <= len(parsed.texts) <= MAX_INSTANCES
        assert all(text.strip() for text in parsed.texts)
    if isinstance(parsed, visual_search.VisualSearchRequest):
        assert 1 <= parsed.k <= visual_search.MAX_K
        for query in parsed.queries:
            assert (query.pixels is None) != (query.point_id is None)
            if query.pixels is not None:
                assert query.pixels.shape == (28, 28) and np.isfinite(query.pixels).all()
                assert query.pixels.min() >= 0.0 and query.pixels.max() <= 1.0
    if isinstance(parsed, list):
        for query in parsed:
            assert 1 <= query.n <= ranking.MAX_N and 0 <= query.timestamp <= ranking.MAX_TIMESTAMP
            assert query.user_id >= 0 and all(item >= 0 for item in query.candidates or [])


@pytest.mark.parametrize("model", sorted(V1_PARSERS))
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"instances": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b"\xff\xfe{}",
        b"",
        b'{"instances": [NaN, Infinity, -Infinity]}',
        b'{"instances": [' + b"1" * 5000 + b"]}",
        json.dumps({"instances": ["x"] * 100_000}).encode(),
    ],
    ids=["deep-brackets", "deep-instances", "not-utf8", "empty", "nan-inf", "huge-number", "oversized-list"],
)
def test_v1_codec_refuses_hostile_raw_bodies(model: str, raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        V1_PARSERS[model](raw)


def test_pixel_grid_with_a_deeply_nested_row_is_refused() -> None:
    grid = [[0] * 28 for _ in range(27)] + [nested_lists(10_000)]
    with pytest.raises(InvalidInput, match="pixels"):
        visual_search.parse_v1({"instances": [{"pixels": grid}]})


def test_filter_bound_beyond_float_range_is_refused() -> None:
    with pytest.raises(InvalidInput, match="filter"):
        visual_search.parse_v1({"instances": [{"id": 1}], "filter": {"year": {"gte": 10**400}}})


v2_tensors = st.fixed_dictionaries(
    {
        "name": st.one_of(st.sampled_from(V2_NAMES), st.text(max_size=6)),
        "datatype": st.sampled_from(V2_DTYPES),
        "shape": st.lists(st.integers(min_value=-2, max_value=30), max_size=4)
        | st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=3),
        "data": st.lists(json_like, max_size=8)
        | st.lists(huge_ints, max_size=6)
        | st.lists(st.text(), max_size=4),
    }
)
v2_parameters = st.dictionaries(
    st.sampled_from(["k", "n", "filter", "other"]),
    st.one_of(huge_ints, st.floats(), st.booleans(), st.text(max_size=10), st.just('{"label": [1, 2]}'),
              st.just("[" * 5000)),
    max_size=3,
)  # fmt: skip


def v2_request(payload: dict[str, Any], model: str) -> InferRequest:
    """What kserve hands the codec for a REST JSON V2 body; bodies its own model refuses are skipped."""
    try:
        return InferRequest.from_inference_request(InferenceRequest.model_validate(payload), model)
    except (ValidationError, ValueError, TypeError):
        assume(False)
        raise  # unreachable: assume(False) stops the example


@pytest.mark.parametrize("model", sorted(V2_PARSERS))
@FUZZ
@given(inputs=st.lists(v2_tensors, min_size=0, max_size=3), parameters=st.none() | v2_parameters)
def test_v2_codec_parses_or_refuses_any_json_tensors(
    model: str, inputs: list[dict[str, Any]], parameters: dict[str, Any] | None
) -> None:
    payload: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        payload["parameters"] = parameters
    parses_or_refuses(V2_PARSERS[model], v2_request(payload, model))


def length_prefixed(items: list[bytes]) -> bytes:
    """A well-formed binary BYTES tensor: each item after its little-endian uint32 length."""
    return b"".join(len(item).to_bytes(4, "little") + item for item in items)


ITEM_SIZES = {"FP32": 4, "UINT8": 1, "INT64": 8, "INT32": 4, "UINT64": 8, "UINT32": 4, "BOOL": 1, "FP64": 8}


@st.composite
def binary_tensors(draw: st.DrawFn) -> tuple[str, str, list[int], bytes]:
    """(name, datatype, shape, raw): mostly shapes that match the bytes, so kserve decodes them
    and the codec sees them; sometimes anything at all."""
    name = draw(st.sampled_from(V2_NAMES))
    datatype = draw(st.sampled_from(V2_DTYPES))
    if datatype == "BYTES":
        items = draw(st.lists(st.binary(max_size=16) | st.just(b"\x89PNG\r\n\x1a\n"), min_size=1, max_size=4))
        shape, raw = draw(st.sampled_from([[len(items)], [1, len(items)]])), length_prefixed(items)
    elif datatype in ITEM_SIZES:
        shape = draw(st.sampled_from([[1], [3], [2, 2], [1, 28, 28], [1, 1, 28, 28], [2, 28, 28]]))
        raw = draw(st.binary(min_size=math.prod(shape) * ITEM_SIZES[datatype], max_size=math.prod(shape) * 8))
        raw = raw[: math.prod(shape) * ITEM_SIZES[datatype]]
    else:
        shape, raw = draw(st.lists(st.integers(-1, 4), max_size=3)), draw(st.binary(max_size=64))
    return name, datatype, shape, raw


@pytest.mark.parametrize("model", sorted(V2_PARSERS))
@FUZZ
@given(tensor=binary_tensors())
def test_v2_codec_parses_or_refuses_any_binary_tensor(
    model: str, tensor: tuple[str, str, list[int], bytes]
) -> None:
    name, datatype, shape, raw = tensor
    declared = {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw)},
    }
    header = json.dumps({"inputs": [declared]}).encode()
    try:
        request = InferRequest.from_bytes(header + raw, len(header), model)
    except Exception:  # kserve's own binary decoding (struct.error, InferenceError): not the codec's
        assume(False)
        raise
    parses_or_refuses(V2_PARSERS[model], request)


def test_v2_bytes_tensor_of_numbers_is_refused_without_allocating() -> None:
    request = v2_request(
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [10**12]}]}, "m"
    )
    with pytest.raises(InvalidInput, match="string"):
        moderation.parse_v2(request)


MIME_FRAGMENTS = [
    "Subject: ", "=?utf-8?b?", "=?bogus-charset?q?=FF?=", "Content-Type: multipart/mixed; boundary=b\n",
    "Content-Type: text/html; charset=nope\n", "Content-Transfer-Encoding: base64\n",
    "Content-Transfer-Encoding: quoted-printable\n", "Content-Transfer-Encoding: x-uuencode\n",
    "--b\n", "--b--\n", "\n\n",
    "<script>", "</style>", "<!--", "&amp;&#xFFFFFF;", "http://x.y/z", "a@b.cd", "3.14",
]  # fmt: skip
emails = st.one_of(
    st.text(),
    surrogate_text,
    st.lists(st.one_of(st.sampled_from(MIME_FRAGMENTS), st.text(max_size=12)), max_size=30).map("".join),
)


@FUZZ
@given(raw=st.one_of(emails, st.binary(), emails.map(lambda s: s.encode("utf-8", errors="surrogateescape"))))
def test_normalize_email_never_raises_and_stays_bounded(raw: str | bytes) -> None:
    text = normalize_email(raw, max_chars=500)
    assert isinstance(text, str) and len(text) <= 500
    assert text == text.strip() and "  " not in text
    text.encode("utf-8")  # no lone surrogates reach the featurizer


@FUZZ
@given(
    texts=st.lists(emails.map(normalize_email) | st.text(), max_size=5),
    max_tokens=st.integers(min_value=1, max_value=64),
    buckets=st.integers(min_value=2, max_value=1 << 16),
)
def test_featurize_shapes_and_id_range(texts: list[str], max_tokens: int, buckets: int) -> None:
    """Any surrogate-free text (what normalize_email returns) -> [N, max_tokens] ids in [0, buckets)."""
    ids = featurize(texts, FeaturizerConfig(max_tokens=max_tokens, buckets=buckets))
    assert ids.shape == (len(texts), max_tokens) and ids.dtype == np.int64
    assert ids.min(initial=0) >= 0 and ids.max(initial=0) < buckets
    for row, text in zip(ids, texts, strict=True):
        assert row.any() == bool(re.search(r"\w", text))  # padding only when there is no word


# --- seeded mutations of real requests (tests/mutations.py): thousands of cases, cheap ---------

MUTATED_CASES = 1000
MUTATED_IMAGES = 3000


def transformer_parse(case: mutations.Case) -> object:
    """What a transformer does with ``case`` before its model runs: kserve's decoding (checked, as
    ``HostModelServer`` sets it up) and the model's codec. Refusals: ``InvalidInput`` (400), or a
    pydantic ValidationError where FastAPI validates a JSON V2 body itself (kserve's 422)."""
    plane = CheckedDataPlane(ModelRepository())
    headers = {name.lower(): value for name, value in case.headers.items()}
    if case.route == "v1":
        body, _ = plane.decode(case.body, headers, PredictorProtocol.REST_V1.value, case.model)
        return V1_PARSERS[case.model](body)
    if mutations.BINARY_LENGTH in headers:
        request = plane.decode(case.body, headers, PredictorProtocol.REST_V2.value, case.model)[0]
    else:
        parsed = InferenceRequest.model_validate_json(case.body)
        request = plane.decode(parsed, headers, PredictorProtocol.REST_V2.value, case.model)[0]
    return V2_PARSERS[case.model](request)


def gateway_check(case: mutations.Case) -> None:
    """The gateway's V2 check (V1 bodies only need to be JSON there)."""
    if case.route == "v1":
        return
    length = case.headers.get(mutations.BINARY_LENGTH)
    if length is None:
        check_infer_request(json.loads(case.body), None)
    else:
        check_infer_request(*parse_binary_request(case.body, length))


@pytest.mark.parametrize("model", sorted(V1_PARSERS))
def test_mutated_requests_are_parsed_or_refused_with_a_4xx(model: str) -> None:
    outcomes: Counter[str] = Counter()
    for number, case in enumerate(mutations.cases(model, seed=15, count=MUTATED_CASES)):
        try:
            gateway_check(case)
            outcomes["gateway passed"] += 1
        except (V2RequestError, ValueError):  # ValueError: json.loads of broken JSON (the gateway: 400)
            outcomes["gateway refused"] += 1
        try:
            transformer_parse(case)
            outcomes["parsed"] += 1
        except (InvalidInput, ValidationError):
            outcomes["refused"] += 1
        except Exception as error:  # a 500: fail with the replayable case
            raise AssertionError(
                f"case {number} of {model} (seed 15): {type(error).__name__}: {error}"
            ) from error
    assert outcomes["parsed"] >= len(mutations.seeds(model)) and outcomes["refused"] > MUTATED_CASES / 4, (
        outcomes
    )


def test_mutated_images_decode_or_are_refused_with_a_message() -> None:
    decoded = 0
    for number, data in enumerate(mutations.images(seed=15, count=MUTATED_IMAGES)):
        try:
            pixels = visual_search.decode_image(data, f"image[{number}]")
        except InvalidInput as refusal:
            assert f"image[{number}]" in str(refusal)
            continue
        except Exception as error:
            raise AssertionError(f"image {number} (seed 15): {type(error).__name__}: {error}") from error
        assert pixels.shape == (28, 28) and 0.0 <= pixels.min() <= pixels.max() <= 1.0
        decoded += 1
    assert 2 <= decoded < MUTATED_IMAGES
