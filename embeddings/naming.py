"""Collection names: one collection per (model, version), ``<model>__v<version>``; the bare
model name is the alias that points at the live one."""

from __future__ import annotations

import re

from embeddings.errors import EmbeddingsError

_MODEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_COLLECTION = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})__v(?P<version>[1-9][0-9]*)$")


def validate_model(model: str) -> str:
    """Model names become aliases and name prefixes, so keep them to lowercase, digits and '-'."""
    if not _MODEL.match(model):
        raise EmbeddingsError(
            f"bad model name {model!r}", hint="use lowercase letters, digits and '-', e.g. visual-search"
        )
    return model


def collection_name(model: str, version: int) -> str:
    """``visual-search``, 3 -> ``visual-search__v3``."""
    if version < 1:
        raise EmbeddingsError(f"bad version {version}", hint="model versions start at 1")
    return f"{validate_model(model)}__v{version}"


def parse_collection_name(name: str) -> tuple[str, int] | None:
    """``visual-search__v3`` -> (``visual-search``, 3); None for names this package did not make."""
    found = _COLLECTION.match(name)
    return (found["model"], int(found["version"])) if found else None
