"""Email normalisation and the hashed n-gram featuriser shared by moderation training and serving."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import numpy as np

from training.moderation.preprocess import (
    EMAIL_TOKEN,
    NUMBER_TOKEN,
    PAD_ID,
    URL_TOKEN,
    FeaturizerConfig,
    featurize,
    normalize_email,
)

HTML_BODY = (
    "<html><head><style>p {color: red}</style><script>track()</script></head>"
    "<body><p>Buy <b>NOW</b> &amp; save 50% at http://cheap.example.com/x?id=1 "
    "or write to deals@cheap.example.com</p><!-- hidden comment --></body></html>"
)
RAW_MULTIPART = f"""Received: from relay.example.net (relay [10.0.0.1]) by mx.example.org
From: Spammer <spam@bulk.example.com>
To: victim@example.org
Subject: =?utf-8?b?{base64.b64encode("Wïn a prize".encode()).decode()}?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

{base64.b64encode(HTML_BODY.encode()).decode()}
--BOUNDARY
Content-Type: application/octet-stream; name="evil.exe"
Content-Transfer-Encoding: base64

{base64.b64encode(b"MZ binary payload").decode()}
--BOUNDARY--
"""


def test_multipart_email_becomes_subject_plus_visible_text() -> None:
    text = normalize_email(RAW_MULTIPART)
    assert text.startswith("wïn a prize buy now & save")
    assert URL_TOKEN.strip() in text and EMAIL_TOKEN.strip() in text and NUMBER_TOKEN.strip() in text
    for leaked in ("received", "relay", "victim", "<", "color", "track", "hidden", "mz binary", "50", "http"):
        assert leaked not in text, leaked
    assert text == text.lower() and "  " not in text


def test_plain_text_part_is_preferred_over_its_html_alternative() -> None:
    raw = (
        'Subject: hello\nContent-Type: multipart/alternative; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nplain=20words here\n"
        "--b\nContent-Type: text/html\n\n<p>html words</p>\n--b--\n"
    )
    assert normalize_email(raw) == "hello plain words here"


def test_non_utf8_input_is_decoded_not_fatal() -> None:
    latin1_part = base64.b64encode("café crème".encode("latin-1")).decode()
    raw = (
        "Subject: menu\nContent-Type: text/plain; charset=iso-8859-1\n"
        f"Content-Transfer-Encoding: base64\n\n{latin1_part}\n"
    )
    assert normalize_email(raw) == "menu café crème"
    assert normalize_email(b"Subject: caf\xe9\n\nbody \xff\xfe bytes") == "caf\ufffd body \ufffd\ufffd bytes"
    assert normalize_email("Subject: x\nContent-Transfer-Encoding: 8bit\n\ncafé") == "x café"
    lone_surrogate = "Subject: x\n\nbroken \udce9 text"
    assert normalize_email(lone_surrogate).encode("utf-8")  # valid UTF-8 out
    assert normalize_email("Content-Type: text/plain; charset=no-such-charset\n\nstill readable") == (
        "still readable"
    )


def test_empty_and_headerless_input() -> None:
    assert normalize_email("") == ""
    assert normalize_email(b"") == ""
    assert normalize_email("just a body line") == "just a body line"


def test_output_length_is_bounded() -> None:
    text = normalize_email("Subject: long\n\n" + "word " * 100_000)
    # Cut at max_chars, where this text has a space: the cut does not keep it.
    assert len(text) == FeaturizerConfig.max_chars - 1 and text.endswith("word")


def test_featurize_is_padded_in_range_and_deterministic() -> None:
    config = FeaturizerConfig(max_tokens=64, buckets=1 << 10)
    texts = ["free money now", "", " ".join(f"word{i}" for i in range(100))]
    ids = featurize(texts, config)
    assert ids.shape == (3, 64) and ids.dtype == np.int64
    assert np.all(ids[1] == PAD_ID)
    short = ids[0][ids[0] != PAD_ID]
    assert 3 + 2 <= len(short) < 64 and np.all(ids[0][len(short) :] == PAD_ID)
    assert np.all(ids[2] != PAD_ID)  # long text: truncated to exactly max_tokens
    assert ids.min() >= 0 and ids.max() < config.buckets
    assert np.array_equal(ids, featurize(texts, config))


def test_featurize_does_not_depend_on_the_process_hash_seed() -> None:
    """Training and serving run in different processes: ids must not come from ``hash()``."""
    code = (
        "from training.moderation.preprocess import FeaturizerConfig, featurize;"
        "print(featurize(['free money now'], FeaturizerConfig()).tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(featurize(["free money now"], FeaturizerConfig()).tolist())
