"""`helm test` for modelyard: query each model through the gateway with the chart's API key.

Runs in the serving image with the standard library only, so it needs nothing the image might
lack. Checks, in order: the gateway is ready; each named model answers a V2 inference with its
expected output tensor and the version header that says which version answered; a request
without the key is refused with 401 (auth is on). Exit 0 when every check passes, 1 otherwise;
one PASS/FAIL line per check.

    MODELYARD_API_KEY=... python gateway_smoke.py --gateway http://HOST:8080 --model moderation ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

VERSION_HEADER = "x-modelyard-version"


@dataclass(frozen=True)
class Probe:
    """One model's request and the output tensor its answer must hold."""

    body: dict
    output: str


def _tensor(name: str, datatype: str, shape: list[int], data: list) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


# A T-shirt-like block on a dark 28x28 canvas: any image works, this one is not blank.
_IMAGE = [255 if 6 <= row < 22 and 8 <= col < 20 else 0 for row in range(28) for col in range(28)]
PROBES = {
    "moderation": Probe(
        {"inputs": [_tensor("text", "BYTES", [1], ["Congratulations, you won a free prize! Click here."])]},
        "decision",
    ),
    # No candidates: the transformer retrieves them from Qdrant, so the search path is tested too.
    "ranking": Probe({"inputs": [_tensor("user_id", "INT64", [1], [196])]}, "item_ids"),
    "visual-search": Probe({"inputs": [_tensor("image", "UINT8", [1, 28, 28], _IMAGE)]}, "ids"),
}


@dataclass(frozen=True)
class Answer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str = ""


def call(url: str, body: dict | None, key: str | None, timeout_s: float) -> Answer:
    """One HTTP request; network errors become an Answer with no status, never an exception."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-API-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers=headers, method="GET" if body is None else "POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
    except (urllib.error.URLError, OSError) as error:
        return Answer(None, {}, b"", f"no answer: {error}")


def outputs(body: bytes) -> list[str]:
    """Names of the output tensors of a V2 answer (empty when the body is not one)."""
    try:
        return [tensor["name"] for tensor in json.loads(body)["outputs"]]
    except (ValueError, KeyError, TypeError):
        return []


def describe(answer: Answer) -> str:
    if answer.status is None:
        return answer.error
    return f"HTTP {answer.status}: {' '.join(answer.body.decode(errors='replace').split())[:200]}"


def check_ready(gateway: str, timeout_s: float) -> tuple[bool, str]:
    answer = call(f"{gateway}/v2/health/ready", None, None, timeout_s)
    return answer.status == 200, f"gateway ready: {describe(answer)}"


def check_model(gateway: str, model: str, key: str, timeout_s: float) -> tuple[bool, str]:
    probe = PROBES[model]
    started = time.monotonic()
    answer = call(f"{gateway}/v2/models/{model}/infer", probe.body, key, timeout_s)
    took_ms = (time.monotonic() - started) * 1000
    version = answer.headers.get(VERSION_HEADER, "")
    if answer.status != 200:
        return False, f"{model}: {describe(answer)}"
    if probe.output not in outputs(answer.body):
        return False, f"{model}: no '{probe.output}' output in the answer: {describe(answer)}"
    if not version:
        return False, f"{model}: the answer has no {VERSION_HEADER} header"
    return True, f"{model}: version {version} answered '{probe.output}' in {took_ms:.0f} ms"


def check_auth(gateway: str, model: str, timeout_s: float) -> tuple[bool, str]:
    answer = call(f"{gateway}/v2/models/{model}/infer", PROBES[model].body, None, timeout_s)
    return answer.status == 401, f"{model} without an API key is refused: {describe(answer)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", required=True, help="base URL of the gateway's API port")
    parser.add_argument("--model", action="append", choices=sorted(PROBES), required=True, dest="models")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    key = os.environ.get("MODELYARD_API_KEY", "")
    if not key:
        parser.error("MODELYARD_API_KEY is not set: the chart passes the gateway Secret's api-key")
    gateway = args.gateway.rstrip("/")
    results = [check_ready(gateway, args.timeout)]
    results += [check_model(gateway, model, key, args.timeout) for model in args.models]
    results.append(check_auth(gateway, args.models[0], args.timeout))
    for passed, line in results:
        print(f"{'PASS' if passed else 'FAIL'} {line}", flush=True)
    passed = sum(ok for ok, _ in results)
    print(f"gateway smoke test: {passed} of {len(results)} checks passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
