"""Publish a registered version's Triton repository to the model store KServe reads.

KServe cannot resolve MLflow URIs, so an InferenceService predictor's ``storageUri`` names a
plain folder, ``<store>/<model>/<version>/``, that is a Triton repository root. It is assembled
exactly like the local stack's repository (``modelyard.artifact.model_repository``): the Triton model
version is the MLflow version, because the transformer asks Triton for that version.
Uploads go through MLflow's artifact repositories, so s3 honours ``MLFLOW_S3_ENDPOINT_URL``
(MinIO) and ``AWS_*`` like MLflow's own artifacts do.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from modelyard.artifact.layout import VersionArtifacts, list_models
from modelyard.artifact.model_repository import assemble
from modelyard.artifact.triton_config import write_config_variant
from modelyard.errors import DataError, UnavailableError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings

if TYPE_CHECKING:
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    from modelyard.registry.registry import Registry

log = logging.getLogger(__name__)

GPU_CONFIG = "gpu"
"""Config variant name (``<triton model>/configs/gpu.pbtxt``, KIND_GPU) each publish adds."""
STORAGE_URI_TAG = "modelyard.storage_uri"
"""Version tag recording where the version was published (its ``storageUri``)."""
CLIENT_PACKAGES = {"s3": "boto3", "gs": "google-cloud-storage", "file": ""}
"""Store schemes and the package MLflow needs to write each (file needs none)."""
STORE_FORMS = "s3://bucket/prefix, gs://bucket/prefix or file:///abs/path (prefix optional)"
STORE_FIX = (
    "check MODELYARD_MODEL_STORE_URI (its bucket must exist) and the store's credentials "
    "(S3/MinIO: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MLFLOW_S3_ENDPOINT_URL)"
)
_CLIENT_ERRORS = {
    "botocore.exceptions": ("BotoCoreError", "ClientError"),
    "boto3.exceptions": ("Boto3Error",),
    "google.api_core.exceptions": ("GoogleAPIError",),
}
"""The store clients' own failures (neither subclasses OSError), for those installed."""


def storage_uri(model_store: str, model: str, version: int) -> str:
    """``s3://bucket/<model>/<version>``: where the chart and training put a version's repository."""
    return f"{model_store.rstrip('/')}/{model}/{version}"


def check_store(store: str) -> str:
    """``store`` without a trailing slash, or a UsageError naming the forms that work."""
    parsed = urlparse(store)
    if parsed.scheme == "file":
        valid = not parsed.netloc and parsed.path.startswith("/")
    else:
        valid = parsed.scheme in CLIENT_PACKAGES and bool(parsed.netloc)
    if not valid:
        raise UsageError(f"model store {store!r} is not {STORE_FORMS}", hint="fix MODELYARD_MODEL_STORE_URI")
    return store.rstrip("/")


def resolve_store(explicit: str | None, settings: Settings) -> str:
    """The store a command uses: ``--model-store`` when given, else the setting (one source)."""
    store = explicit or settings.model_store_uri
    if not store:
        raise UsageError(
            "no model store is configured",
            hint=f"set MODELYARD_MODEL_STORE_URI ({STORE_FORMS}) or pass --model-store",
        )
    return check_store(store)


def probe_store(store: str) -> None:
    """List the store once, so a wrong bucket or endpoint fails before an hour of training."""
    # lazy: mlflow takes seconds to import; only this path needs it
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    store = check_store(store)
    with _store_errors(store, then="fix it before training: every new version is published there"):
        get_artifact_repository(store).list_artifacts()


def publish_version(
    registry: Registry, model: str, version: int, store: str, files: Path | None = None
) -> str:
    """Upload ``model`` v``version`` to ``<store>/<model>/<version>/``, check every file arrived,
    tag the version with that URI and return it. Re-publishing the same version is harmless.

    ``files`` is the version's folder (``model_repository/...``) when the caller has it on disk
    (training); otherwise it is downloaded from the registry.
    """
    # lazy: mlflow takes seconds to import; only this path needs it
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    uri = storage_uri(check_store(store), model, version)
    retry = f"v{version} stays registered: retry with `yard registry publish {model} --version {version}`"
    with tempfile.TemporaryDirectory(prefix="modelyard-publish-") as tmp:
        root = files or registry.download(f"{model}/{version}", Path(tmp) / "files")
        repository = Path(tmp) / "repository"
        assemble(repository, [VersionArtifacts(model, version, root)])
        for name in list_models(repository):  # GPU nodes load these (the chart's gpu.enabled)
            write_config_variant(repository / name, GPU_CONFIG, "KIND_GPU")
        expected = {
            p.relative_to(repository).as_posix(): p.stat().st_size
            for p in repository.rglob("*")
            if p.is_file()
        }
        with _store_errors(uri, then=retry):
            published_to = get_artifact_repository(uri)
            published_to.log_artifacts(str(repository))
            published = _listing(published_to)
    if published != expected:
        raise DataError(
            f"{uri} does not hold exactly {model} v{version}: {_difference(expected, published)}",
            hint=f"another registry may write to this store: clear {uri} or give each a prefix; {retry}",
        )
    registry.tag_version(model, version, STORAGE_URI_TAG, uri)
    event(log, "registry_version_published", model=model, version=version, uri=uri, files=len(expected))
    return uri


def _listing(repository: ArtifactRepository, path: str | None = None) -> dict[str, int]:
    """Every file under ``path`` of an MLflow artifact repository, with its size."""
    found: dict[str, int] = {}
    for info in repository.list_artifacts(path):
        if info.path == path:  # some stores list a folder inside itself
            continue
        if info.is_dir:
            found |= _listing(repository, info.path)
        else:
            found[info.path] = info.file_size
    return found


def _difference(expected: dict[str, int], published: dict[str, int]) -> str:
    missing = sorted(expected.keys() - published.keys())
    unexpected = sorted(published.keys() - expected.keys())
    resized = sorted(k for k in expected.keys() & published.keys() if expected[k] != published[k])
    parts = {"missing": missing, "unexpected": unexpected, "size differs": resized}
    return "; ".join(f"{label}: {', '.join(names)}" for label, names in parts.items() if names)


@contextmanager
def _store_errors(uri: str, then: str) -> Iterator[None]:
    """A missing client package or an unreachable store becomes an error that names the fix."""
    scheme = urlparse(uri).scheme
    try:
        yield
    except ImportError as exc:
        package = CLIENT_PACKAGES.get(scheme) or exc.name
        raise UsageError(
            f"the {scheme}:// model store needs the {package} package ({exc})", hint=f"pip install {package}"
        ) from exc
    except _client_errors() as exc:
        raise UnavailableError(f"model store {uri} failed: {exc}", hint=f"{STORE_FIX}; {then}") from exc


def _client_errors() -> tuple[type[Exception], ...]:
    """Evaluated only while an exception is being matched, so unused clients are never imported."""
    # lazy: mlflow takes seconds to import; only this path needs it
    from mlflow.exceptions import MlflowException

    errors: list[type[Exception]] = [OSError, MlflowException]
    for module_name, names in _CLIENT_ERRORS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        errors += [getattr(module, name) for name in names]
    return tuple(errors)
