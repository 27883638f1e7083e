"""A seeded mutator for hostile requests: valid V1/V2 requests of the three models, and encoded
images, broken in the ways clients (and attackers) break them.

Seeded, so a failure names its seed and case number and replays exactly. Used by the codec fuzz
(tests/unit/serving/test_codec_fuzz.py: thousands of cases, in-process), the gateway fuzz
(tests/integration/test_gateway_fuzz.py) and the real stack (tests/integration/test_hardening_stack.py).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

BINARY_LENGTH = "inference-header-content-length"
HOSTILE_VALUES: list[Any] = [
    None, True, -1, 0, 2**63, 2**70, 1.5, float("nan"), "", "9", "x" * 300, "€", "\r\n", [], [[]], {},
    {"a": 1}, [1, "x", None], -(2**31),
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One request: path suffix (``:predict`` or ``/infer``), body, extra headers."""

    model: str
    route: str
    body: bytes
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return f"/v1/models/{self.model}:predict" if self.route == "v1" else f"/v2/models/{self.model}/infer"


def encoded_image(fmt: str, side: int = 28, seed: int = 0) -> bytes:
    pixels = (np.random.default_rng(seed).random((side, side)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


PNG, JPEG = encoded_image("PNG"), encoded_image("JPEG")


def bytes_tensor(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def _binary(
    tensors: list[tuple[dict[str, Any], bytes]], parameters: dict[str, Any] | None = None
) -> tuple[dict, bytes]:
    header: dict[str, Any] = {"inputs": []}
    for tensor, raw in tensors:
        header["inputs"].append({**tensor, "parameters": {"binary_data_size": len(raw)}})
    if parameters:
        header["parameters"] = parameters
    return header, b"".join(raw for _, raw in tensors)


def seeds(model: str) -> list[tuple[str, Any, bytes | None]]:
    """Valid requests of ``model``: (route, JSON body or V2 header, binary part or None)."""
    if model == "moderation":
        texts = [b"Win a free cruise now!", b"lunch at noon?"]
        return [
            ("v1", {"instances": ["hello there", {"text": "Subject: hi\n\nbody"}]}, None),
            (
                "v2",
                {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]},
                None,
            ),
            ("v2", *_binary([({"name": "text", "datatype": "BYTES", "shape": [2]}, bytes_tensor(texts))])),
        ]
    if model == "ranking":
        return [
            (
                "v1",
                {"user_id": 42, "candidates": [50, 181, 1], "context": {"timestamp": 893286638}, "n": 3},
                None,
            ),
            ("v1", {"instances": [{"user_id": 7, "n": 2}, {"user_id": 8}]}, None),
            (
                "v2",
                *_binary(
                    [
                        (
                            {"name": "user_id", "datatype": "INT64", "shape": [2]},
                            np.array([42, 7], "<i8").tobytes(),
                        ),
                        (
                            {"name": "candidates", "datatype": "INT64", "shape": [2, 2]},
                            np.array([[50, 1], [181, -1]], "<i8").tobytes(),
                        ),
                    ],
                    {"n": 2},
                ),
            ),
            ("v2", {"inputs": [{"name": "user_id", "datatype": "INT64", "shape": [1], "data": [42]}]}, None),
        ]
    if model == "visual-search":
        grid = np.linspace(0, 1, 28 * 28, dtype="<f4").reshape(1, 28, 28)
        return [
            ("v1", {"instances": [{"image_b64": base64.b64encode(PNG).decode()}, {"id": 3}], "k": 3}, None),
            (
                "v1",
                {"instances": [{"pixels": (grid[0] * 255).round().tolist()}], "filter": {"label": [1, 2]}},
                None,
            ),
            (
                "v2",
                *_binary([({"name": "image", "datatype": "BYTES", "shape": [2]}, bytes_tensor([PNG, JPEG]))]),
            ),
            ("v2", *_binary([({"name": "image", "datatype": "FP32", "shape": [1, 28, 28]}, grid.tobytes())])),
            (
                "v2",
                {
                    "inputs": [{"name": "id", "datatype": "INT64", "shape": [2], "data": [1, 2]}],
                    "parameters": {"k": 4},
                },
                None,
            ),
        ]
    raise ValueError(f"no seeds for {model!r}")


def cases(model: str, seed: int, count: int) -> Iterator[Case]:
    """``count`` mutated requests of ``model`` (the first few are the seeds themselves, unbroken)."""
    rng = random.Random(f"{model}/{seed}")
    originals = seeds(model)
    for number in range(count):
        route, document, binary = copy.deepcopy(originals[number % len(originals)])
        if number >= len(originals):
            document, binary = _mutate(rng, document, binary)
        yield _case(model, route, document, binary, rng if number >= len(originals) else None)


def _case(model: str, route: str, document: Any, binary: bytes | None, rng: random.Random | None) -> Case:
    body = json.dumps(document).encode() if not isinstance(document, bytes) else document
    headers = {"content-type": "application/json"}
    if binary is not None:
        length = len(body)
        if rng is not None and rng.random() < 0.1:
            length = rng.choice([0, length - 1, length + 1, length + len(binary) + 5])
        headers = {"content-type": "application/octet-stream", BINARY_LENGTH: str(length)}
        body += binary
    return Case(model, route, body, headers)


def _mutate(rng: random.Random, document: Any, binary: bytes | None) -> tuple[Any, bytes | None]:
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if binary is not None and choice < 0.35:
            binary = mutate_bytes(rng, binary)
        elif choice < 0.9:
            document = _mutate_json(rng, document)
        else:
            raw = document if isinstance(document, bytes) else json.dumps(document).encode()
            document = mutate_bytes(rng, raw)  # broken JSON text
    return document, binary


def _mutate_json(rng: random.Random, document: Any) -> Any:
    """Replace, drop or duplicate one node somewhere in ``document``."""
    if isinstance(document, bytes):
        return document
    paths = list(_paths(document, ()))
    path = rng.choice(paths)
    if not path:
        return copy.deepcopy(rng.choice(HOSTILE_VALUES))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.random()
    if action < 0.6:
        parent[last] = copy.deepcopy(rng.choice([*HOSTILE_VALUES, rng.randint(-5, 70000)]))
    elif action < 0.8:
        del parent[last]
    elif isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    else:
        parent[rng.choice(["extra", "data", "shape", "parameters", "name"])] = copy.deepcopy(parent[last])
    return document


def _paths(node: Any, prefix: tuple) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node[:8]):
            yield from _paths(child, (*prefix, index))


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip, cut, insert or repeat bytes (what a broken upload or a fuzzer does to a file)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.random()
        if action < 0.4 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif action < 0.7:
            del out[rng.randrange(len(out) + 1) :]
        elif action < 0.9:
            at = rng.randrange(len(out) + 1)
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif out:
            start = rng.randrange(len(out))
            out[start:start] = out[start : start + rng.randint(1, 64)]
    return bytes(out)


def images(seed: int, count: int) -> Iterator[bytes]:
    """Mutated PNG and JPEG files (and a few valid ones: the first two)."""
    rng = random.Random(f"images/{seed}")
    bases = [PNG, JPEG, encoded_image("PNG", 64, 1), encoded_image("JPEG", 64, 1)]
    for number in range(count):
        base = bases[number % len(bases)]
        yield base if number < 2 else mutate_bytes(rng, base)
