"""The operators' view the chart ships: the Grafana dashboard, and the PodMonitors and PrometheusRule
that render only when the cluster serves the Prometheus Operator's kinds."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.charts.conftest import EXTERNAL, MONITORING_APIS, NAMESPACE, RELEASE, all_pods, crds_dir
from tests.charts.promql_check import (
    dashboard_exprs,
    load_dashboard,
    metric_names,
    our_metric_names,
    problems,
)

MONITORING_NS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def docs_of(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def rule_exprs(rule: dict) -> dict[str, str]:
    return {f"rule {r['alert']}": r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return load_dashboard()


# --- rendered only with their CRDs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("apis", "monitors", "rules"),
    [
        ((), False, False),
        (MONITORING_APIS[:1], True, False),
        (MONITORING_APIS, True, True),
    ],
)
def test_monitors_and_rules_render_only_when_the_cluster_serves_their_kinds(template, apis, monitors, rules):
    docs = docs_of(template(*[f"--api-versions={api}" for api in apis]))
    assert bool(of_kind(docs, "PodMonitor")) is monitors
    assert bool(of_kind(docs, "PrometheusRule")) is rules
    assert f"{RELEASE}-modelyard-dashboard" in of_kind(docs, "ConfigMap"), "the dashboard needs no CRD"


def test_a_monitor_for_the_gateway_each_triton_predictor_and_qdrant(render):
    monitors = render("monitoring").of_kind("PodMonitor")
    components = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for m in monitors}
    assert components == {"gateway", "predictor", "qdrant"}


def test_monitoring_can_be_turned_off(template):
    apis = [f"--api-versions={api}" for api in MONITORING_APIS]
    off = "monitoring.prometheus.enabled=false,monitoring.dashboard.enabled=false"
    docs = docs_of(template(*apis, "--set", off))
    assert not of_kind(docs, "PodMonitor") and not of_kind(docs, "PrometheusRule")
    assert f"{RELEASE}-modelyard-dashboard" not in of_kind(docs, "ConfigMap")


def test_prometheus_selector_labels_go_on_monitors_and_rules(template):
    apis = [f"--api-versions={api}" for api in MONITORING_APIS]
    docs = docs_of(template(*apis, "--set", "monitoring.prometheus.labels.release=kube-prometheus-stack"))
    for kind in ("PodMonitor", "PrometheusRule"):
        for obj in of_kind(docs, kind).values():
            assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack", obj["metadata"]["name"]


def ports_by_name(rendered, component: str) -> dict[str, int]:
    """Named container ports of the pods a component selector picks (a predictor's come from its runtime)."""
    ports: dict[str, int] = {}
    for pod in all_pods(rendered.docs):
        if pod.labels and pod.labels.get("app.kubernetes.io/component") == component:
            containers = pod.containers
            if pod.where.endswith(".predictor"):
                containers = [
                    c for rt in rendered.of_kind("ServingRuntime") for c in rt["spec"]["containers"]
                ]
            for container in containers:
                ports |= {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    return ports


def admits(policy: dict, port: int, peer: dict) -> bool:
    """Whether one of a NetworkPolicy's ingress rules lets ``peer`` reach ``port``."""
    for rule in policy["spec"].get("ingress", []):
        port_ok = "ports" not in rule or {"port": port} in rule["ports"]
        peer_ok = "from" not in rule or peer in rule["from"]
        if port_ok and peer_ok:
            return True
    return False


def test_every_scraped_port_exists_and_the_network_policy_admits_prometheus(render):
    rendered = render("monitoring")
    policies = {p["metadata"]["name"]: p for p in rendered.of_kind("NetworkPolicy")}
    for monitor in rendered.of_kind("PodMonitor"):
        component = monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        ports = ports_by_name(rendered, component)
        assert endpoint["port"] in ports, f"{component} pods have no port named {endpoint['port']}: {ports}"
        policy = policies[f"{RELEASE}-modelyard-{component}"]
        assert admits(policy, ports[endpoint["port"]], MONITORING_NS_PEER), component


def test_triton_metrics_port_is_closed_to_prometheus_without_prometheus_from(template):
    proc = template(
        "--set", "networkPolicy.prometheusFrom=null", "--show-only", "templates/networkpolicies.yaml"
    )
    policies = of_kind(docs_of(proc), "NetworkPolicy")
    predictor = policies[f"{RELEASE}-modelyard-predictor"]
    assert not admits(predictor, 8002, MONITORING_NS_PEER)
    assert all(rule.get("from") for rule in predictor["spec"]["ingress"]), (
        "a rule without 'from' admits anyone"
    )


@pytest.mark.parametrize(
    ("extra", "secret"), [((), f"{RELEASE}-modelyard-qdrant"), (("--set", EXTERNAL), "ext-qdrant")]
)
def test_qdrant_is_scraped_with_its_api_key(template, extra, secret):
    """Qdrant's /metrics needs the API key once one is set; generated or the user's Secret."""
    docs = docs_of(template(*[f"--api-versions={api}" for api in MONITORING_APIS], *extra))
    (endpoint,) = of_kind(docs, "PodMonitor")[f"{RELEASE}-modelyard-qdrant"]["spec"]["podMetricsEndpoints"]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": secret, "key": "api-key"}}


def test_knative_mode_declares_one_predictor_port_and_no_triton_monitor(template):
    apis = [f"--api-versions={api}" for api in MONITORING_APIS]
    docs = docs_of(template(*apis, "--set", "serving.deploymentMode=Knative"))
    (runtime,) = of_kind(docs, "ServingRuntime").values()
    assert runtime["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert f"{RELEASE}-modelyard-predictor" not in of_kind(docs, "PodMonitor")


def test_monitoring_objects_match_the_prometheus_operator_crds(render, crds):
    monitoring = [
        d for d in render("monitoring").docs if d["apiVersion"].startswith("monitoring.coreos.com/")
    ]
    if not all(crds.knows(doc) for doc in monitoring):
        pytest.skip(
            f"no Prometheus Operator CRDs among the upstream CRDs in {crds_dir()} (KServe and KubeRay only): "
            "add the monitoring.coreos.com PodMonitor and PrometheusRule CRDs there to check against them"
        )
    failures = [f"{d['kind']}/{d['metadata']['name']}: {e}" for d in monitoring for e in crds.errors(d)]
    assert not failures, "\n".join(failures)


# --- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_configmap_carries_the_sidecar_label_and_the_json(render, dashboard):
    configmap = render("default").get("ConfigMap", f"{RELEASE}-modelyard-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["modelyard.json"]) == dashboard


def test_every_dashboard_query_parses_and_reads_metrics_that_exist(dashboard):
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) >= 20
    assert not problems(exprs), "\n".join(problems(exprs))


def test_the_checker_rejects_bad_promql_and_unknown_metrics():
    """Without this, the dashboard and rule checks could pass on anything."""
    found = problems(
        {
            "unclosed": "sum(rate(modelyard_gateway_requests_total[5m])",
            "typo": "rate(modelyard_gateway_request_total[$__rate_interval])",
            "fine": "sum by (model) (rate(nv_inference_queue_duration_us[$__rate_interval]))",
        }
    )
    assert [line.split(":")[0] for line in found] == ["unclosed", "typo"]


def test_the_dashboard_covers_what_operators_asked_for(dashboard):
    """Requests, errors, latency percentiles and the split per model and version; Triton queue and
    compute time; Qdrant latency."""
    read = {name for expr in dashboard_exprs(dashboard).values() for name in metric_names(expr)}
    assert {
        "modelyard_gateway_requests_total",
        "modelyard_gateway_errors_total",
        "modelyard_gateway_request_duration_seconds_bucket",
        "modelyard_rollout_canary_percent",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_request_success",
        "rest_responses_duration_seconds_bucket",
    } <= read
    exprs = " ".join(dashboard_exprs(dashboard).values())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (model, version, le)" in exprs
    assert "ignoring(version) group_left" in exprs, "the split: each version's share of its model"


def test_dashboard_panels_are_well_formed(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace", "model"}


def test_every_gateway_family_is_on_the_dashboard_or_known_unused(dashboard):
    """A metric added to the gateway later is either shown or consciously left off."""
    read = {name for expr in dashboard_exprs(dashboard).values() for name in metric_names(expr)}
    left_off = {
        "modelyard_gateway_request_duration_seconds_sum",
        "modelyard_gateway_request_duration_seconds_count",
        "modelyard_rollout_shadow_requests_total",
        "modelyard_rollout_shadow_dropped_total",
        "modelyard_rollout_shadow_duration_seconds_bucket",
        "modelyard_rollout_shadow_duration_seconds_sum",
        "modelyard_rollout_shadow_duration_seconds_count",
        "modelyard_rollout_shadow_score_delta_bucket",
        "modelyard_rollout_shadow_score_delta_sum",
        "modelyard_rollout_shadow_score_delta_count",
        "modelyard_rollout_updated_at",
        "modelyard_gateway_feedback_rows_total",  # feedback volume: the monitor's business (issue 18)
    }
    assert our_metric_names() - read == left_off


# --- the alert rules --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule(render) -> dict:
    (found,) = render("monitoring").of_kind("PrometheusRule")
    return found


def test_every_rule_parses_and_reads_metrics_that_exist(rule):
    exprs = rule_exprs(rule)
    assert set(exprs) == {
        "rule ModelyardGatewayDown",
        "rule ModelyardUpstreamErrors",
        "rule ModelyardSlowModel",
        "rule ModelyardTritonQueueing",
        "rule ModelyardDataDrift",
    }
    assert not problems(exprs), "\n".join(problems(exprs))


def test_the_drift_alert_reads_the_monitor_verdict_the_gateway_exports(rule, template):
    """It fires on the window's verdict (signal overall), not on any single signal, and waits
    as long as values say."""
    by_alert = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    drift = by_alert["ModelyardDataDrift"]
    assert metric_names(drift["expr"]) == {"modelyard_drift"}
    assert 'signal="overall"' in drift["expr"] and drift["expr"].rstrip().endswith("== 1")
    apis = [f"--api-versions={api}" for api in MONITORING_APIS]
    (rendered,) = of_kind(
        docs_of(template(*apis, "--set", "monitoring.alerts.driftFor=30m")), "PrometheusRule"
    ).values()
    rules = {r["alert"]: r for g in rendered["spec"]["groups"] for r in g["rules"]}
    assert rules["ModelyardDataDrift"]["for"] == "30m"


def test_rules_are_scoped_to_the_release_namespace_and_documented(rule):
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            assert f'namespace="{NAMESPACE}"' in r["expr"], r["alert"]
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"] and r["annotations"]["description"]
            assert r["for"]


def test_alert_thresholds_come_from_values(template):
    apis = [f"--api-versions={api}" for api in MONITORING_APIS]
    # --set would pass 0.2 as a string (helm converts only integers), which the schema refuses
    thresholds = ["--set-json", "monitoring.alerts.errorRatio=0.2", "--set", "monitoring.alerts.p99Seconds=3"]
    (rule,) = of_kind(
        docs_of(template(*apis, *thresholds, "--set", "monitoring.alerts.for=2m")), "PrometheusRule"
    ).values()
    by_alert = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert by_alert["ModelyardUpstreamErrors"]["expr"].rstrip().endswith("> 0.2")
    assert by_alert["ModelyardSlowModel"]["expr"].rstrip().endswith("> 3")
    assert by_alert["ModelyardSlowModel"]["for"] == "2m"
    assert not problems(rule_exprs(rule))


def test_a_bad_threshold_fails_the_render(template):
    proc = template("--set", "monitoring.alerts.errorRatio=2")
    assert proc.returncode != 0 and "errorRatio" in proc.stderr
