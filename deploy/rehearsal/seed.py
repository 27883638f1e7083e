"""What the training RayJobs and the MinIO bucket Job would leave behind, made the cheap way.

The RayJobs train, register in the chart's MLflow and publish each version's Triton repository
to the model store. The rehearsal cannot run KubeRay, and training for real costs minutes per
model, so it *copies* versions instead: each champion of a source registry (smoke-trained once,
``yard train MODEL --smoke``, or the test session's) is registered again in the chart's MLflow
pod and published to the store, by this module running as ``python -m deploy.rehearsal.seed``
inside a pod with the RayJob head container's environment (the MLflow and S3 Service names, the
S3 Secret, ``MODELYARD_MODEL_STORE_URI``). So the registry calls, the artifact proxy and the
publish are the real ones, over the pod network; only the training run is not repeated.

``download_store`` is the storage initializer's part (boto3, the ServiceAccount's endpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import ModelyardError, NotFoundError

if TYPE_CHECKING:
    from modelyard.settings import Settings

CHAMPION = "champion"
SMOKE_TRAIN_TIMEOUT_S = 1800
SMOKE_TRAIN_ATTEMPTS = 2
"""A local Ray can time out starting on a saturated machine (its raylet waits for the metrics agent)."""


def missing_champions(source: Path, models: list[str]) -> list[str]:
    """The models without a champion in the embedded registry under ``source``."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    from modelyard.registry import Registry

    if not (source / "mlflow.db").is_file():
        return list(models)
    registry = Registry(_embedded(source))
    missing = []
    for model in models:
        try:
            registry.resolve(f"{model}@{CHAMPION}")
        except NotFoundError:
            missing.append(model)
    return missing


def smoke_train(source: Path, models: list[str], log: Path) -> None:
    """``yard train MODEL --smoke`` into ``source`` for each model (minutes each, once)."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    from modelyard.settings import get_settings

    installed = get_settings()  # where `make install` put the dataset sources (not under ``source``)
    env = {
        **os.environ,
        "MODELYARD_STATE_DIR": str(source),
        "MODELYARD_DEVICE": "cpu",
        "MODELYARD_SOURCES_DIR": str(installed.sources_dir),
        "MODELYARD_SPAMASSASSIN_SOURCE": str(installed.spamassassin_source),
        "MODELYARD_FASHION_MNIST_SOURCE": str(installed.fashion_mnist_source),
    }
    if installed.movielens_source is not None:
        env["MODELYARD_MOVIELENS_SOURCE"] = str(installed.movielens_source)
    for name in ("MODELYARD_MLFLOW_TRACKING_URI", "MODELYARD_MODEL_STORE_URI", "MODELYARD_QDRANT_URL"):
        env.pop(name, None)
    yard = Path(sys.executable).parent / "yard"
    with log.open("ab") as out:
        for model in models:
            for _attempt in range(SMOKE_TRAIN_ATTEMPTS):
                proc = subprocess.run(
                    [str(yard), "train", model, "--smoke", "--json"],
                    env=env, stdout=out, stderr=subprocess.STDOUT, timeout=SMOKE_TRAIN_TIMEOUT_S, check=False,
                )  # fmt: skip
                if proc.returncode == 0:
                    break
            else:
                raise ModelyardError(f"yard train {model} --smoke failed", hint=f"read {log}")


def copy_champions(source: Path, models: list[str]) -> dict[str, dict[str, object]]:
    """Register each source champion in the configured registry and publish it to the store."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    import mlflow

    from modelyard.registry import Registry, publish_version
    from modelyard.settings import get_settings

    settings = get_settings()
    origin = Registry(_embedded(source))
    target = Registry(settings)
    copied: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="rehearsal-seed-") as tmp:
        for model in models:
            champion = origin.resolve(f"{model}@{CHAMPION}")
            files = origin.download(f"{model}/{champion.version}", Path(tmp) / model)
            with target.start_run(model, run_name=f"rehearsal-copy-of-v{champion.version}") as run:
                mlflow.log_artifacts(str(files), "model")
            version = target.register(run.info.run_id, "model", model).version
            target.set_alias(model, CHAMPION, version)
            uri = publish_version(target, model, version, settings.model_store_uri or "", files=files)
            copied[model] = {"version": version, "storage_uri": uri, "source_version": champion.version}
    return copied


def _embedded(source: Path) -> Settings:
    """Settings of the embedded (sqlite) registry under ``source``, whatever the environment says."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    from modelyard.settings import Settings

    return Settings(state_dir=source, mlflow_tracking_uri=None)


def download_store(uri: str, target: Path, endpoint_url: str, access_key: str, secret_key: str) -> int:
    """KServe's storage initializer for ``s3://bucket/prefix``: every object under it into
    ``target``; returns the number of files. Fails when there are none (KServe does too)."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    import boto3

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )  # fmt: skip
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix.rstrip("/") + "/"
    ):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix.rstrip("/")) + 1 :]
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(path))
            count += 1
    if count == 0:
        raise NotFoundError(f"{uri} holds no files", hint="publish the version first (yard registry publish)")
    return count


def create_buckets(buckets: list[str], endpoint_url: str, access_key: str, secret_key: str) -> None:
    """What the chart's bucket Job does (``mc mb --ignore-existing``)."""
    # lazy: loaded by the step that needs it: the rehearsal's other steps run without it
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )  # fmt: skip
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.rehearsal.seed", description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="state dir holding the champions")
    parser.add_argument("--model", action="append", required=True)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(copy_champions(args.source, args.model)), flush=True)
    except ModelyardError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
