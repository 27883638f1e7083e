"""values.schema.json turns bad values into a failed render instead of a broken cluster."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("models.ranking.canary.enabled=true", "canary"),
        ("models.moderation.minReplicas=-1", "models.moderation.minReplicas"),
        ("gateway.replicas=-1", "gateway.replicas"),
        ("training.workers.replicas=-1", "training.workers.replicas"),
        ("images.serving.tag=latest", "images.serving.tag"),
        ("images.qdrant.tag=latest", "images.qdrant.tag"),
        ("images.qdrant.tag=", "images.qdrant.tag"),
        ("serving.deploymentMode=RawDeployment", "serving.deploymentMode"),
        ("training.submissionMode=Bogus", "training.submissionMode"),
        ("mlflow.backend.type=mysql", "mlflow.backend.type"),
        ("models.ranking.storageUri=/local/path", "models.ranking.storageUri"),
        ("training.modelStoreUri=file:///models", "training.modelStoreUri"),
        ("surprise=1", "surprise"),
        ("gateway.apiKey=hunter2", "apiKey"),
        ("models.unknown-model.enabled=true", "unknown-model"),
    ],
)
def test_bad_value_fails_the_render(template, setting, complaint):
    proc = template("--set", setting)
    assert proc.returncode != 0, f"{setting} rendered without complaint"
    assert complaint in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ("minio.enabled=false", "s3.existingSecret is required"),
        ("mlflow.backend.type=postgres", "mlflow.backend.existingSecret"),
        ("models.ranking.minReplicas=3,models.ranking.maxReplicas=2", "minReplicas must not exceed"),
    ],
)
def test_inconsistent_values_fail_with_a_hint(template, settings, complaint):
    proc = template("--set", settings)
    assert proc.returncode != 0
    assert complaint in proc.stderr, proc.stderr
