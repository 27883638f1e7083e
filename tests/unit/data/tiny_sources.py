"""Tiny synthetic sources in the real layouts of the three source packages.

They exercise the real materialise/manifest/verify code in milliseconds; the real corpora are
covered by tests/integration/test_datasets_real.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

TRAIN_IMAGES, TEST_IMAGES = 3, 2


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a gzipped idx file: magic 2051 for images (3 dims) or 2049 for labels (1 dim)."""
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def make_fashion_source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", TRAIN_IMAGES), ("t10k", TEST_IMAGES)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


def write_email(package: Path, group: str, number: str, text: str, *, raw: bytes | None, md5: str) -> None:
    """One email as the npm package ships it: ``<id>.<md5>.json`` and, when given, the raw ``.txt``."""
    folder = package / "data" / group
    folder.mkdir(parents=True, exist_ok=True)
    record = {"id": number, "group": group, "checksum": {"type": "MD5", "value": md5}, "text": text}
    (folder / f"{number}.{md5}.json").write_text(json.dumps(record), encoding="utf-8")
    if raw is not None:
        (folder / f"{number}.{md5}.txt").write_bytes(raw)


def make_spam_source(package: Path) -> Path:
    raw = b"Subject: caf\xe9\n\nlatin-1 body"  # not UTF-8: only the raw .txt matches its MD5
    latin1 = raw.decode("latin-1")
    write_email(package, "easy-ham-1", "00001", latin1, raw=raw, md5=hashlib.md5(raw).hexdigest())
    text = "Subject: win\n\nmoney"
    write_email(package, "spam-1", "00001", text, raw=None, md5=hashlib.md5(text.encode()).hexdigest())
    write_email(package, "spam-2", "00007", "Subject: tampered", raw=None, md5="0" * 32)
    return package


def make_movielens_source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t881250949\n2\t11\t1\t881250950\n"
    )
    (folder / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n"
    )
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Children's Comedy\n11\tunkonwn\tunkonwn\tunknown\n"
    )
    return folder
