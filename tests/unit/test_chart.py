"""The Helm chart: lint, render, hardening, monitoring switches, and metric names that exist.

helm is found by tests/support/helm.py; the rendering tests skip with `make cluster-build` as the
instruction when it is not built yet.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube import metrics

from tests.support.helm import KUBE_VERSION, NOT_BUILT, helm_binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "flarekube"
MONITORING_API = ["--api-versions", "monitoring.coreos.com/v1"]


HELM = helm_binary()
needs_helm = pytest.mark.skipif(HELM is None, reason=NOT_BUILT)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    proc = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def render(*args: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, from `helm template` in namespace flarekube-system."""
    out = helm("template", "flarekube", str(CHART), "--namespace", "flarekube-system", *KUBE_VERSION, *args).stdout
    objects = [d for d in yaml.safe_load_all(out) if d]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def operator_container(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    (container,) = objects[("Deployment", "flarekube")]["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


@needs_helm
@pytest.mark.parametrize("values", [[], ["--set", "monitoring.enabled=true"]], ids=["default", "monitoring"])
def test_helm_lint(values: list[str]) -> None:
    helm("lint", "--strict", str(CHART), *KUBE_VERSION, *values)


@needs_helm
def test_default_render_is_hardened() -> None:
    objects = render()
    kinds = {k for k, _ in objects}
    assert {"Deployment", "ServiceAccount", "Service"} <= kinds
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}, "monitoring is off by default"
    deployment = objects[("Deployment", "flarekube")]
    pod = deployment["spec"]["template"]["spec"]
    container = operator_container(objects)
    assert container["image"] == "flarekube/runtime:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["flarekube", "operator"]
    assert "--all-namespaces" not in container["args"], "least privilege: its own namespace by default"
    assert [a for a in container["args"] if a.startswith("--namespace")] == ["--namespace=flarekube-system"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["serviceAccountName"] == "flarekube"
    assert deployment["spec"]["strategy"]["type"] == "Recreate" and deployment["spec"]["replicas"] == 1
    service = objects[("Service", "flarekube-metrics")]
    assert service["spec"]["ports"][0]["port"] == 9090
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@needs_helm
def test_watching_chosen_namespaces() -> None:
    container = operator_container(render("--set", "watchNamespaces={team-a,team-b}"))
    assert "--all-namespaces" not in container["args"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=flarekube-system",
        "--namespace=team-a",
        "--namespace=team-b",
    ]


def rbac_docs(*args: str) -> list[dict[str, Any]]:
    out = helm("template", "flarekube", str(CHART), "--namespace", "flarekube-system", *KUBE_VERSION, *args,
               "--show-only", "templates/rbac.yaml").stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


@needs_helm
def test_rbac_is_a_role_per_watched_namespace_by_default() -> None:
    docs = rbac_docs("--set", "watchNamespaces={team-a,flarekube-system}")
    roles = sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role")
    assert roles == ["flarekube-system", "team-a"], "its own namespace once, then the listed ones"
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == roles
    (cluster_role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    # Cluster-wide only what kopf needs to discover resources: read-only, and no Secrets anywhere.
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert resources == {"customresourcedefinitions", "namespaces"}
    assert {v for rule in cluster_role["rules"] for v in rule["verbs"]} <= {"get", "list", "watch"}
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "team-a"]
    secrets = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert secrets and not {"update", "*", "deletecollection"} & {v for r in secrets for v in r["verbs"]}


@needs_helm
def test_cluster_wide_is_asked_for_and_says_what_it_grants() -> None:
    objects = render("--set", "clusterWide=true")
    assert "--all-namespaces" in operator_container(objects)["args"]
    docs = rbac_docs("--set", "clusterWide=true")
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding")]
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert any("secrets" in rule["resources"] for rule in role["rules"])
    notes = (CHART / "templates" / "NOTES.txt").read_text()  # `helm template` does not render NOTES
    assert re.search(r"if \.Values\.clusterWide \}\}[^{]*Secrets and Deployments everywhere", notes)


@needs_helm
def test_monitoring_needs_the_prometheus_operator_api() -> None:
    without_api = {k for k, _ in render("--set", "monitoring.enabled=true")}
    assert "ServiceMonitor" not in without_api and "PrometheusRule" not in without_api
    assert "ConfigMap" in without_api, "the dashboard needs only Grafana's sidecar"
    objects = render("--set", "monitoring.enabled=true", *MONITORING_API)
    monitor = objects[("ServiceMonitor", "flarekube")]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics" and monitor["spec"]["endpoints"][0]["honorLabels"]
    rules = objects[("PrometheusRule", "flarekube")]["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert {"FlarekubeOperatorDown", "FlarekubeProjectNotReady", "FlarekubeSiteDisconnected",
            "FlarekubeJobFailed"} <= set(alerts)  # fmt: skip
    assert alerts["FlarekubeProjectNotReady"]["for"] == "10m"
    assert alerts["FlarekubeSiteDisconnected"]["for"] == "5m"
    assert 'job="flarekube-metrics"' in alerts["FlarekubeOperatorDown"]["expr"]
    assert "{{ $labels.project }}" in alerts["FlarekubeProjectNotReady"]["annotations"]["summary"]
    pods = objects[("PodMonitor", "flarekube-federation")]["spec"]["podMetricsEndpoints"][0]
    assert pods["port"] == "fl-metrics" and pods["honorLabels"]
    for uid in ("federation", "operator", "certificates", "gpu"):
        dashboard = objects[("ConfigMap", f"flarekube-{uid}-dashboard")]
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(dashboard["data"][f"flarekube-{uid}.json"])["uid"] == f"flarekube-{uid}"
    extra = render("--set", "monitoring.enabled=true", "--set", "monitoring.dashboard.extraLabels.release=kps")
    assert extra[("ConfigMap", "flarekube-gpu-dashboard")]["metadata"]["labels"]["release"] == "kps"
    assert not render(*MONITORING_API).keys() & {("ServiceMonitor", "flarekube")}, "off unless enabled"


@needs_helm
@pytest.mark.parametrize(
    "bad",
    [
        "image.pullPolicy=Sometimes",
        "securityContext.runAsNonRoot=false",
        "securityContext.allowPrivilegeEscalation=true",
        "operator.metricsPort=80",
        "watchNamespaces={Team_A}",
        "monitoring.prometheusRule.projectNotReadyFor=ten-minutes",
        "replicas=3",
    ],
)
def test_values_schema_rejects(bad: str) -> None:
    proc = helm("template", "flarekube", str(CHART), *KUBE_VERSION, "--set", bad, check=False)
    assert proc.returncode != 0 and "values don't meet the specifications of the schema" in proc.stderr, bad


@needs_helm
def test_crds_ship_with_the_chart() -> None:
    out = helm("template", "flarekube", str(CHART), *KUBE_VERSION, "--include-crds").stdout
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(out) if d and d["kind"] == "CustomResourceDefinition"}
    assert names == {"flprojects.flarekube.io", "fljobs.flarekube.io"}


def _metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bflarekube_[a-z_]+", text))


def test_alerts_and_dashboard_query_only_defined_metrics() -> None:
    """A renamed metric must not leave a silent alert or an empty panel: every flarekube_* name the
    dashboards and alerts use is defined by the operator (flarekube.metrics) or the federation's registry."""
    from flarekube.observability import alerts, dashboards
    from flarekube_workloads.federation_metrics import FederationMetrics

    queries = " ".join(e for b in dashboards.BOARDS for _, e in dashboards.queries(b))
    queries += " ".join(q for b in dashboards.BOARDS for _, q in b.variables)
    rules = (CHART / "templates" / "prometheusrule.yaml").read_text()
    used = (_metric_names(queries) | _metric_names(rules)) - {"flarekube_component"}  # a target label
    fed = FederationMetrics("p", "n")
    for obs in ({"kind": "phase", "job": "j", "phase": "running"}, {"kind": "round_started", "job": "j", "round": 1,
                "planned": 2}, {"kind": "contribution", "job": "j", "site": "a", "accepted": True, "metrics": {"x": 1}},
                {"kind": "training", "job": "j", "site": "a", "seconds": 1}, {"kind": "round_done", "job": "j",
                "round": 1, "seconds": 2, "aggregation_seconds": 0.1, "contributors": ["a"], "missing": ["b"]}):
        assert fed.apply(obs), obs
    fed.set_connected(["a"], ["a"])
    defined = metrics.EXPOSED_NAMES | _exposed(fed.registry)
    assert used, "no metric found in the dashboards or the alerts"
    assert used <= defined, f"not defined anywhere: {sorted(used - defined)}"
    for name in ("flarekube_sites_connected", "flarekube_job_round", "flarekube_reconcile_seconds_bucket",
                 "flarekube_reconcile_errors_total", "flarekube_job_metric",
                 "flarekube_certificate_expiry_timestamp_seconds", "flarekube_fl_rounds_done"):  # fmt: skip
        assert name in _metric_names(queries), f"the dashboards have no panel for {name}"
    assert {a.name for a in alerts.ALERTS} <= set(re.findall(r"alert: (\w+)", rules))


def _exposed(registry: object) -> set[str]:
    from prometheus_client import CollectorRegistry, generate_latest

    assert isinstance(registry, CollectorRegistry)
    text = generate_latest(registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("flarekube_")}


def test_exposed_names_match_the_registry() -> None:
    """EXPOSED_NAMES is what prometheus-client really exposes for the metrics defined in flarekube.metrics."""
    from prometheus_client import generate_latest

    metrics.SITES_CONNECTED.labels(project="p", namespace="n").set(1)
    metrics.RECONCILE_SECONDS.labels(kind="FLProject").observe(0.1)
    metrics.RECONCILE_ERRORS.labels(kind="FLProject").inc(0)
    metrics.JOB_METRIC.labels(job="j", metric="auc")
    metrics.JOB_ROUND.labels(job="j", project="p")
    metrics.JOB_ROUNDS_TOTAL.labels(job="j", project="p")
    metrics.SITES_TOTAL.labels(project="p", namespace="n")
    metrics.PROJECT_READY.labels(project="p", namespace="n")
    metrics.JOB_PHASE.labels(job="j", project="p", phase="Running")
    metrics.CERT_EXPIRY.labels("p", "n", "site-1", "client")
    metrics.CERT_RENEWAL_WINDOW.labels("p", "n")
    metrics.CERT_RENEWING.labels("p", "n")
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in generate_latest().decode().splitlines()
        if line.startswith("flarekube_")
    }
    assert exposed >= metrics.EXPOSED_NAMES
