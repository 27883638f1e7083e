"""Publishing to a stand-in S3 (moto) on loopback: the real boto3 path MLflow takes for
``s3://`` stores, endpoint from ``MLFLOW_S3_ENDPOINT_URL`` as the chart sets it for MinIO.

moto is a fake: it shows the upload, listing and error handling work over the S3 protocol,
not that a particular MinIO or AWS release accepts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.errors import UnavailableError
from modelyard.registry import Registry, probe_store, publish_version
from modelyard.settings import Settings
from tests.unit.registry.triton_versions import TRITON_MODEL, register_triton_version

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

pytestmark = pytest.mark.integration

BUCKET = "modelyard-models"
MODEL = "stand-in-scorer"
"""A registered model modelyard does not list, so its version serves every Triton model it ships."""


@pytest.fixture(scope="module")
def stand_in_s3() -> Iterator[object]:
    """A moto S3 server on 127.0.0.1 with the models bucket, and the env boto3 reads."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://{host}:{port}")
        patch.setenv("AWS_ACCESS_KEY_ID", "stand-in-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "stand-in-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
        client.create_bucket(Bucket=BUCKET)
        yield client
    server.stop()


def keys(client, prefix: str) -> dict[str, int]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"].removeprefix(prefix): item["Size"] for item in listed.get("Contents", [])}


def test_publish_to_stand_in_s3_moto(stand_in_s3, tmp_path: Path) -> None:
    registry = Registry(Settings(state_dir=tmp_path / "state", mlflow_tracking_uri=None))
    register_triton_version(registry, MODEL, tmp_path / "v1")
    probe_store(f"s3://{BUCKET}")

    uri = publish_version(registry, MODEL, 1, f"s3://{BUCKET}/")
    again = publish_version(registry, MODEL, 1, f"s3://{BUCKET}")

    assert uri == again == f"s3://{BUCKET}/{MODEL}/1"
    published = keys(stand_in_s3, f"{MODEL}/1/")
    assert sorted(published) == [
        f"{TRITON_MODEL}/1/model.pt",
        f"{TRITON_MODEL}/1/model.py",
        f"{TRITON_MODEL}/config.pbtxt",
        f"{TRITON_MODEL}/configs/gpu.pbtxt",
    ]
    assert all(size > 0 for size in published.values())


def test_missing_bucket_on_stand_in_s3_moto_is_unavailable(stand_in_s3) -> None:
    with pytest.raises(UnavailableError, match="does not exist") as caught:
        probe_store("s3://no-such-bucket/models")
    assert "its bucket must exist" in caught.value.hint
