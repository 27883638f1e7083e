"""The rehearsal's reading of a pod spec and of what KServe and KubeRay add, without running anything."""

from __future__ import annotations

import pytest

from deploy.rehearsal import kserve, kuberay
from deploy.rehearsal.manifests import KIND_VALUES, REHEARSAL_VALUES, find_helm, render_chart
from deploy.rehearsal.podspec import (
    Probe,
    Service,
    ServicePort,
    expand,
    memory_bytes,
    resolve_env,
    resolve_plan,
    service_links,
)
from deploy.rehearsal.queries import load_queries
from deploy.rehearsal.report import Report, Row
from deploy.rehearsal.runtime import DOCKER_DIR, dockerfile_env, image_name
from deploy.rehearsal.workloads import plan_workloads


def test_env_is_resolved_in_order_with_secrets_and_kubernetes_expansion() -> None:
    entries = [
        {"name": "HOST", "value": "0.0.0.0"},
        {"name": "URL", "value": "http://$(HOST):$(PORT)/$$(HOST)"},
        {"name": "PORT", "value": "80"},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "api-key"}}},
    ]
    env = resolve_env(entries, {"s": {"api-key": "k"}}, {})
    # $(PORT) is defined later: Kubernetes leaves it as written; $$ escapes.
    assert env == {"HOST": "0.0.0.0", "URL": "http://0.0.0.0:$(PORT)/$(HOST)", "PORT": "80", "KEY": "k"}
    assert expand("--host=$(HOST)", env) == "--host=0.0.0.0"


def test_a_missing_secret_key_is_the_error_the_kubelet_gives() -> None:
    with pytest.raises(Exception, match="CreateContainerConfigError"):
        resolve_env([{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "x"}}}], {"s": {}}, {})


def test_service_links_are_what_broke_the_settings() -> None:
    """The kubelet's service links for the chart's gateway Service include MODELYARD_GATEWAY_PORT."""
    gateway = Service("modelyard-gateway", "gw", (ServicePort(8080, 8080),), ("http",))
    headless = Service("modelyard-qdrant-headless", "q", (ServicePort(6333, 6333),), ("http",), headless=True)
    links = service_links([gateway, headless], {"gw": "10.244.1.19", "q": "10.244.1.11"})
    assert links["MODELYARD_GATEWAY_PORT"] == "tcp://10.244.1.19:8080"
    assert links["MODELYARD_GATEWAY_SERVICE_PORT_HTTP"] == "8080"
    assert not any(name.startswith("MODELYARD_QDRANT_HEADLESS") for name in links)


@pytest.mark.parametrize(
    ("quantity", "expected"), [("1536Mi", 1536 * 2**20), ("1Gi", 2**30), ("512M", 512 * 10**6)]
)
def test_memory_quantities(quantity: str, expected: int) -> None:
    assert memory_bytes(quantity) == expected


def test_kserve_injects_only_missing_flags_prefix_matched() -> None:
    isvc = {
        "metadata": {"name": "ranking"},
        "spec": {
            "transformer": {"containers": [{"name": "x", "image": "i", "args": ["--model_name=ranking"]}]}
        },
    }
    container = kserve.transformer_container(isvc, "modelyard")
    assert container["name"] == "kserve-container"
    assert container["args"] == [
        "--model_name=ranking",
        "--predictor_host",
        "ranking-predictor.modelyard",
        "--http_port",
        "8080",
    ]
    assert kserve.service_ports(container) == (ServicePort(80, 8080),)


def test_kubelet_probe_window() -> None:
    probe = Probe("startup", "/live", 8080, period_s=5, failure_threshold=12, initial_delay_s=3)
    assert probe.window_s == 63
    assert probe.describe() == "startupProbe GET http://:8080/live"


def test_kuberay_submit_command_is_kuberays_word_for_word() -> None:
    """KubeRay v1.7's rayjob_controller_unit_test expects this tail for `echo no quote ...`."""
    rayjob = {
        "metadata": {"name": "j"},
        "spec": {"entrypoint": "echo no quote 'single quote' \"double quote\""},
    }
    command = " ".join(kuberay.submit_command(rayjob, "test-url", "test-job-id"))
    assert command.endswith(
        "if ! ray job status --address http://test-url test-job-id >/dev/null 2>&1 ; then ray job submit "
        "--address http://test-url --no-wait --submission-id test-job-id -- echo no quote 'single quote' "
        '"double quote" ; fi ; ray job logs --address http://test-url --follow test-job-id'
    )
    assert kuberay.submitter_argv(rayjob, "test-url", "x")[:3] == ["/bin/bash", "-ce", "--"]


def test_images_env_comes_from_their_dockerfiles_final_stage() -> None:
    env = dockerfile_env(DOCKER_DIR / "serving.Dockerfile")
    assert env["MODELYARD_HOST"] == "0.0.0.0" and env["HOME"] == "/tmp"
    assert env["PATH"].startswith("/opt/venv/bin:/usr/local/sbin")
    assert image_name("ghcr.io/modelyard/triton:0.1.0-pytriton") == "triton"


def test_queries_cover_every_model_and_both_auth_failures() -> None:
    queries = load_queries()
    assert {q.path.split("/")[3].split(":")[0] for q in queries} == {"moderation", "ranking", "visual-search"}
    assert {q.key for q in queries} == {"chart", "none", "wrong"}
    assert all(q.expect and q.rehearsal_expect for q in queries)


def test_report_counts_notes_apart() -> None:
    report = Report(
        [Row("a"), Row("b", passed=False, detail="why"), Row("c", passed=None, detail="stand-in")]
    )
    assert report.summary() == "1 passed, 1 failed" and not report.ok
    assert report.render().splitlines()[-1] == "1 passed, 1 failed"
    assert "  FAIL b: why" in report.render()


@pytest.mark.skipif(find_helm() is None, reason="helm not found: run `make tools`")
def test_the_rendered_kind_chart_plans_every_long_running_pod() -> None:
    work = plan_workloads(render_chart([KIND_VALUES, REHEARSAL_VALUES]))
    names = [plan.name for plan in work.pods]
    assert names[:3] == ["modelyard-minio", "modelyard-qdrant-0", "modelyard-mlflow"]
    assert set(names[3:]) == {
        *(
            f"{m}-{part}"
            for m in ("visual-search", "moderation", "ranking")
            for part in ("predictor", "transformer")
        ),
        "modelyard-gateway",
    }
    predictor = work.pod("ranking-predictor")
    assert predictor.argv[:2] == ["tritonserver", "--model-store=/mnt/models"]
    assert predictor.storage_uri == "s3://modelyard-models/ranking/1"
    assert any(m.path == "/mnt/models" and m.kind == "models" and m.read_only for m in predictor.mounts)
    assert any(m.path == "/dev/shm" and m.kind == "memory" for m in predictor.mounts)
    transformer = work.pod("ranking-transformer")
    assert "--predictor_host" in transformer.args and "ranking-predictor.modelyard" in transformer.args
    assert not transformer.enable_service_links
    assert work.pod("modelyard-minio").stand_in and work.pod("modelyard-qdrant-0").stand_in
    assert work.buckets == ["modelyard-models", "modelyard-artifacts"]
    assert {s.name for s in work.services} >= {
        "ranking-predictor",
        "ranking-transformer",
        "modelyard-gateway",
    }
    assert work.training_pod is not None and len(work.rayjobs) == 3


def test_the_s3_stand_in_binds_where_the_chart_binds_minio() -> None:
    minio = plan_workloads(render_chart([KIND_VALUES, REHEARSAL_VALUES])).pod("modelyard-minio")
    secrets = {"modelyard-s3": {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}}
    # A bind address unlike any default, so the command can only carry it by following BIND_HOST.
    [bind] = [entry for entry in minio.env_entries if entry["name"] == "BIND_HOST"]
    bind["value"] = "10.1.2.3"
    resolve_plan(minio, secrets, {}, {})
    assert minio.command[:3] == ["moto_server", "-H", "10.1.2.3"]
