"""Raw email -> normalised text -> hashed n-gram ids: the ONE path used by training and serving.

Dependency-free (stdlib + numpy) because the serving transformer imports it. Only the subject
and the decoded text body are kept: routing headers identify the corpus a message came from,
not whether it is spam, and would leak that into the model.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
import zlib
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

import numpy as np

PAD_ID = 0
URL_TOKEN, EMAIL_TOKEN, NUMBER_TOKEN = " urltoken ", " emailtoken ", " numtoken "

_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_TRANSFER_ENCODINGS = ("base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue", "uue")


@dataclass(frozen=True)
class FeaturizerConfig:
    """Everything that decides the token ids; stored in preprocessing.json with the model."""

    max_chars: int = 6000
    """Normalised text is cut here, so one huge email cannot dominate latency."""
    max_tokens: int = 1024
    """Ids per email (L): distinct unigrams, then bigrams, then character n-grams, then padding."""
    buckets: int = 1 << 16
    """Hash space including the padding id 0; the embedding table has this many rows."""
    char_ngram: int = 4
    """Character n-grams of each distinct word (with boundary marks): robust to v1agra-style spelling."""


def normalize_email(
    raw: str | bytes, max_chars: int = FeaturizerConfig.max_chars, with_subject: bool = True
) -> str:
    """Subject + decoded text body, HTML stripped, URLs/emails/numbers as tokens, lowercase, bounded.

    ``with_subject=False`` keeps the body alone: the leakage check scores emails with every header
    gone. Never raises on malformed input: broken MIME degrades to the raw text, undecodable
    bytes to replacement characters, empty input to an empty string.
    """
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    raw = raw.encode("utf-8", errors="replace").decode("utf-8")  # drop lone surrogates
    message = email.message_from_string(raw, policy=email.policy.compat32)
    subject = _subject(message) if with_subject else ""
    return normalize_text(f"{subject}\n{_body(message)}", max_chars)


def normalize_text(text: str, max_chars: int) -> str:
    """The token normalisation shared by emails and plain text (e.g. a chat message)."""
    text = _URL.sub(URL_TOKEN, text)
    text = _EMAIL.sub(EMAIL_TOKEN, text)
    text = _NUMBER.sub(NUMBER_TOKEN, text)
    return _SPACES.sub(" ", text.lower()).strip()[:max_chars].rstrip()  # a cut can end on a space


def _subject(message: Message) -> str:
    subject = message.get("Subject", "")
    try:
        return str(make_header(decode_header(subject)))
    except (LookupError, UnicodeError, ValueError, TypeError):
        return str(subject)


def _body(message: Message) -> str:
    """Decoded text/plain parts; text/html parts (stripped) only when there is no plain text."""
    plain, rich = [], []
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_subtype() == "html":
            rich.append(strip_html(_decoded_payload(part)))
        else:
            plain.append(_decoded_payload(part))
    if plain or rich:
        return "\n".join(plain or rich)
    return "" if message.is_multipart() else message.get_payload() or ""


def _decoded_payload(part: Message) -> str:
    """The part's text: transfer-encoded bytes decoded with the declared charset; 7bit/8bit
    bodies are already text (asking the parser to "decode" them would escape non-ASCII)."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    payload = part.get_payload(decode=encoding in _TRANSFER_ENCODINGS)
    if not isinstance(payload, bytes):
        return str(payload or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # unknown charset name
        return payload.decode("latin-1")


def strip_html(markup: str) -> str:
    """Visible text of an HTML fragment (scripts, styles, comments and tags removed, entities decoded)."""
    markup = _SCRIPT_OR_STYLE.sub(" ", markup)
    markup = _HTML_COMMENT.sub(" ", markup)
    return html.unescape(_HTML_TAG.sub(" ", markup))


def token_ids(text: str, config: FeaturizerConfig) -> list[int]:
    """Hashed ids of the distinct word unigrams, word bigrams and character n-grams, in that order."""
    words = _WORD.findall(text)
    unique_words = list(dict.fromkeys(words))
    grams = [f"w:{w}" for w in unique_words]
    grams += dict.fromkeys(f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    n = config.char_ngram
    chars = dict.fromkeys(
        f"c:{marked[i : i + n]}"
        for marked in (f"<{w}>" for w in unique_words)
        for i in range(len(marked) - n + 1)
    )
    grams += chars
    return [_bucket(gram, config.buckets) for gram in grams[: config.max_tokens]]


def featurize(texts: list[str], config: FeaturizerConfig) -> np.ndarray:
    """Normalised texts -> int64 [N, max_tokens] hashed ids, 0-padded (same in training and serving)."""
    ids = np.full((len(texts), config.max_tokens), PAD_ID, dtype=np.int64)
    for row, text in enumerate(texts):
        found = token_ids(text, config)
        ids[row, : len(found)] = found
    return ids


def short_segments(text: str, count: int, max_words: int, rng: np.random.Generator) -> list[str]:
    """``count`` random windows of 1..``max_words`` consecutive words of a normalised text: what a
    one-line message looks like, cut from a labelled email (a text shorter than a window is used whole)."""
    words = text.split(" ")
    segments = []
    for _ in range(count):
        length = int(rng.integers(1, max_words + 1))
        start = int(rng.integers(0, max(1, len(words) - length + 1)))
        segments.append(" ".join(words[start : start + length]))
    return segments


def _bucket(gram: str, buckets: int) -> int:
    """Stable across processes (unlike ``hash``): CRC-32 into 1..buckets-1, 0 stays padding."""
    return 1 + zlib.crc32(gram.encode("utf-8")) % (buckets - 1)
