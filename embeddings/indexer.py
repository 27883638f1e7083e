"""Index one registered model version: resolve it in the registry, download its artifacts,
embed its catalogue with its own encoder, and build + switch the versioned collection."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from embeddings.records import IndexSpec
from embeddings.sources import SOURCES, Source
from embeddings.store import VectorStore
from modelyard.errors import UsageError
from modelyard.logs import event
from modelyard.settings import Settings

log = logging.getLogger(__name__)


def source_for(model: str) -> type[Source]:
    if model not in SOURCES:
        raise UsageError(
            f"no embedding index for model {model!r}", hint=f"index one of: {', '.join(SOURCES)}"
        )
    return SOURCES[model]


def index_source(
    store: VectorStore,
    source: Source,
    version: int,
    spec: IndexSpec | None = None,
    make_live: bool = True,
) -> str:
    """Build ``<model>__v<version>`` from ``source`` and (by default) make it live; returns the
    collection. ``spec``: the source's own ``index_spec`` unless given."""
    return store.build_version(
        source.model,
        version,
        source.dim(),
        source.batches(),
        total=source.total,
        spec=spec or source.index_spec,
        payload_indexes=source.payload_indexes,
        make_live=make_live,
    )


def index_model(
    settings: Settings,
    model: str,
    ref: str,
    store: VectorStore | None = None,
    limit: int | None = None,
    make_live: bool = True,
) -> str:
    """Index the registered version ``ref`` (``<registered name>@alias`` or ``<name>/N``) of ``model``."""
    # lazy: the registry loads mlflow (seconds); only this path needs it
    from modelyard.registry import Registry

    source_type = source_for(model)
    registry = Registry(settings)
    resolved = registry.resolve(ref)
    with tempfile.TemporaryDirectory(prefix="modelyard-index-") as tmp:
        artifacts = registry.download(resolved.uri, Path(tmp))
        source = source_type(artifacts, settings, limit=limit)
        event(log, "indexing", model=model, version=resolved.version, points=source.total)
        store = store or VectorStore.from_settings(settings)
        return index_source(store, source, resolved.version, make_live=make_live)
