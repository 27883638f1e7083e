"""Training publishes versions where the predictors read them: one model store, S3 env from the Secret."""

from __future__ import annotations

import pytest
import yaml

from deploy.rehearsal.kuberay import check_submitter, describe
from tests.charts.conftest import NAMESPACE, RELEASE, all_pods

STORE = "s3://modelyard-models"


def ray_containers(docs):
    rayjobs = [d for d in docs if d["kind"] == "RayJob"]
    return [c for pod in all_pods(rayjobs) if not pod.where.endswith(".submitter") for c in pod.containers]


def test_ray_pods_publish_to_the_models_bucket_with_the_s3_secret(render):
    rendered = render("default")
    containers = ray_containers(rendered.docs)
    assert len(containers) == 6  # head + worker of three RayJobs
    for container in containers:
        env = {e["name"]: e for e in container["env"]}
        assert env["MODELYARD_MODEL_STORE_URI"]["value"] == STORE
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": f"{RELEASE}-modelyard-s3", "key": key}
        minio = f"http://{RELEASE}-modelyard-minio.{NAMESPACE}.svc:9000"
        assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == minio
    # The predictors' default storageUris are folders of that same store.
    for isvc in rendered.of_kind("InferenceService"):
        name = isvc["metadata"]["name"]
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == f"{STORE}/{name}/1"


def test_model_store_value_overrides_the_bucket(template):
    proc = template("--set", "training.modelStoreUri=s3://shared-bucket/modelyard/")
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    stores = {
        e["value"] for c in ray_containers(docs) for e in c["env"] if e["name"] == "MODELYARD_MODEL_STORE_URI"
    }
    assert stores == {"s3://shared-bucket/modelyard"}


def test_each_transformer_serves_the_version_its_predictor_loads(render):
    """The transformer pins the MLflow version whose Triton models the predictor's storageUri holds
    (Triton version == MLflow version); the gateway labels its route with the same number."""
    rendered = render("default")
    gateway_args = [
        a
        for d in rendered.of_kind("Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
        for a in c.get("args", [])
        if a.startswith("--route=")
    ]
    for isvc in rendered.of_kind("InferenceService"):
        name = isvc["metadata"]["name"]
        version = isvc["spec"]["predictor"]["model"]["storageUri"].rsplit("/", 1)[1]
        args = isvc["spec"]["transformer"]["containers"][0]["args"]
        assert f"--version={version}" in args
        assert any(a.startswith(f"--route={name}=") and a.endswith(f"@{version}") for a in gateway_args)


def test_training_builds_the_collection_of_models_that_search_qdrant(render):
    """The transformers of visual-search and ranking search their version's collection in the chart's
    Qdrant: their RayJob indexes the champion once training succeeded; moderation has no collection."""
    entrypoints = {
        job["metadata"]["name"].rsplit("-train-", 1)[1]: job["spec"]["entrypoint"]
        for job in render("default").of_kind("RayJob")
    }
    assert entrypoints == {
        "visual-search": "bash -c 'yard train visual-search --address auto && yard index visual-search'",
        "moderation": "yard train moderation --address auto",
        "ranking": "bash -c 'yard train ranking --address auto && yard index ranking'",
    }


@pytest.mark.parametrize("values", ["default", "kind"])
def test_kuberay_submitter_runs_every_step_in_the_ray_job(render, values):
    """KubeRay v1.7 pastes the entrypoint unquoted into the submitter's `bash -ce`: run that command
    (with stand-in `ray`/`yard`, see deploy/rehearsal/kuberay.py) and see where each `yard` ran."""
    for rayjob in render(values).of_kind("RayJob"):
        check = check_submitter(rayjob)
        assert check.passed, f"{rayjob['metadata']['name']}: {describe(check)}"
        model = rayjob["metadata"]["name"].rsplit("-train-", 1)[1]
        assert check.in_job[0][:2] == ["train", model]


def test_kuberay_check_catches_an_entrypoint_that_splits_in_the_submitter():
    """The stand-in check itself can fail: a bare `a && b` entrypoint runs b in the submitter pod."""
    entrypoint = "yard train ranking && yard index ranking"
    rayjob = {"metadata": {"name": "bare"}, "spec": {"entrypoint": entrypoint}}
    check = check_submitter(rayjob)
    assert not check.passed
    assert check.in_submitter == [["index", "ranking"]]


def test_predictors_get_the_torch_threads_value(template):
    proc = template("--set", "serving.predictor.cpuThreads=4")
    assert proc.returncode == 0, proc.stderr
    isvcs = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "InferenceService"]
    assert len(isvcs) == 3
    for isvc in isvcs:
        env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]}
        assert env["OMP_NUM_THREADS"] == "4"
