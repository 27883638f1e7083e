"""Where benchmarks keep their state: ``<state_dir>/bench``, apart from the user's own runs.

Ray checkpoints, the embedded MLflow store (versions trained for the stack benchmark) and the
stack's files live there; the datasets are the user's (read-only).
"""

from __future__ import annotations

from modelyard.settings import Settings, get_settings

BENCH_STATE = "bench"


def bench_settings(settings: Settings | None = None) -> Settings:
    """The user's data sources, a state dir of our own (local Ray, embedded MLflow, CPU)."""
    user = settings or get_settings()
    return Settings(
        state_dir=user.state_dir / BENCH_STATE,
        data_dir=user.data_dir,
        sources_dir=user.sources_dir,
        spamassassin_source=user.spamassassin_source,
        movielens_source=user.movielens_source,
        fashion_mnist_source=user.fashion_mnist_source,
        mlflow_tracking_uri=None,
        mlflow_artifact_root=None,
        qdrant_path=None,
        ray_address=None,
        ray_temp_dir=None,
        api_key_file=None,
        device="cpu",
    )


def variant_settings(settings: Settings, variant: str) -> Settings:
    """Same Ray and MLflow, but Ray results under ``<state_dir>/<variant>``: variants that share a config
    (hence a Ray run name) never see each other's checkpoints."""
    return settings.model_copy(update={"state_dir": settings.state_dir / variant})
