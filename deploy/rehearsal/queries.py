"""The model queries of ``deploy/kind/requests/queries.tsv``, sent to the gateway's Service.

The same file drives ``deploy/kind/e2e.sh`` on a real cluster, so the day it runs on kind it
checks what the rehearsal checks; the ``rehearsal`` column is the answer expected offline.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import httpx

from .manifests import REPO_ROOT

REQUESTS = REPO_ROOT / "deploy" / "kind" / "requests"
QUERIES = REQUESTS / "queries.tsv"
WRONG_KEY = "not-the-api-key"
QUERY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Query:
    name: str
    path: str
    body: str
    key: str
    status: int
    expect: str
    rehearsal: int
    rehearsal_expect: str


@dataclass(frozen=True)
class Answer:
    query: Query
    status: int | None
    body: str
    passed: bool
    detail: str


def load_queries(path: Path = QUERIES) -> list[Query]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    rows = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return [Query(*row[:4], int(row[4]), row[5], int(row[6]), row[7]) for row in rows]


def send(base_url: str, api_key: str, query: Query, offline: bool = True) -> Answer:
    """One query; it passes on the expected status with the expected text in the body."""
    headers = {"Content-Type": "application/json"}
    if query.key == "chart":
        headers["X-API-Key"] = api_key
    elif query.key == "wrong":
        headers["X-API-Key"] = WRONG_KEY
    expected, text = (query.rehearsal, query.rehearsal_expect) if offline else (query.status, query.expect)
    try:
        response = httpx.post(
            base_url + query.path,
            content=(REQUESTS / query.body).read_bytes(),
            headers=headers,
            timeout=QUERY_TIMEOUT_S,
        )
    except httpx.HTTPError as error:
        return Answer(query, None, "", False, f"no answer: {error!r}")
    body = response.text
    passed = response.status_code == expected and text.lower() in body.lower()
    detail = f"HTTP {response.status_code} (expected {expected}, body with {text})"
    if not passed or response.status_code >= 400:
        detail += f": {' '.join(body.split())[:240]}"
    return Answer(query, response.status_code, body, passed, detail)
