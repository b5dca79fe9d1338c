"""Fixtures and helpers of the operator's e2e tests: the chart's CRDs and RBAC, the runtime image.

`operator` (session scope) runs `flarekube operator` in the cluster as a ServiceAccount bound to exactly
the chart's rules, watching one restricted namespace (`fed_ns`) that holds the site data as a PVC.
`cluster` and `kube` are tests/support/cluster.py's; all are loaded by `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.cluster import wait_for
from tests.support.helm import apply_rbac, chart_rbac

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "flarekube"
RUNTIME_IMAGE = os.environ.get("FLAREKUBE_RUNTIME_IMAGE", "flarekube/runtime:0.1.0")
OPERATOR_NS = "flarekube-e2e"
OPERATOR_SA = "flarekube"
DATA = REPO / "examples" / "data" / "crc"


def _create(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except client.ApiException as err:
        if err.status != 409:
            raise


def image_present(kube: client.ApiClient, image: str) -> bool:
    nodes = client.CoreV1Api(kube).list_node().items
    return any(image in name or f"docker.io/{image}" in name for n in nodes for i in (n.status.images or [])
               for name in (i.names or []))  # fmt: skip


def restricted_namespace(kube: client.ApiClient, name: str) -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}  # fmt: skip
    core = client.CoreV1Api(kube)
    _create(core.create_namespace, {"metadata": {"name": name, "labels": labels}})
    wait_for(lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name).items),
             30, "default SA")  # fmt: skip


def data_claim(kube: client.ApiClient, namespace: str) -> None:
    """The repo's CRC data as a read-only PVC (a static hostPath PV: this machine is the node). PVs are
    cluster-scoped, so the restricted namespace itself never holds a hostPath volume."""
    core = client.CoreV1Api(kube)
    pv = f"{namespace}-crc-data"
    _create(core.create_persistent_volume, {
        "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(DATA), "type": "Directory"}},
    })  # fmt: skip
    _create(core.create_namespaced_persistent_volume_claim, namespace, {
        "metadata": {"name": "crc-data"},
        "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "volumeName": pv,
                 "resources": {"requests": {"storage": "1Gi"}}},
    })  # fmt: skip


def install_crds(kube: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(kube)
    for path in sorted((CHART / "crds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as err:
            if err.status != 409:
                raise
            current = ext.read_custom_resource_definition(doc["metadata"]["name"])
            doc["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(doc["metadata"]["name"], doc)

    def established() -> bool:
        names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in (CHART / "crds").glob("*.yaml")]
        conditions = [ext.read_custom_resource_definition(n).status.conditions or [] for n in names]
        return all(any(c.type == "Established" and c.status == "True" for c in cs) for cs in conditions)

    wait_for(established, 30, "CRDs established")


def operator_deployment(watch: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Like the chart's Deployment (same security context and flags), on the runtime image: building an
    FLJob's folder imports NVFlare's PyTorch recipe, which the slim operator image lacks. The working
    tree's flarekube is mounted over the image's (read-only hostPath; the node is this machine) so that
    a stale image cannot hide a change under test."""
    labels = {"app.kubernetes.io/name": "flarekube", "app.kubernetes.io/component": "operator"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    extra = [{"name": k, "value": v} for k, v in (env or {}).items()]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "flarekube-operator", "namespace": OPERATOR_NS, "labels": labels},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": OPERATOR_SA,
                     "securityContext": values["podSecurityContext"],
                     "containers": [{
                         "name": "operator", "image": RUNTIME_IMAGE, "imagePullPolicy": "IfNotPresent",
                         "command": ["flarekube", "operator", *[f"--namespace={n}" for n in watch],
                                     "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=9090"],
                         "env": [{"name": "POD_NAMESPACE",
                                  "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                 {"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"},
                                 {"name": "PYTHONPATH", "value": "/src/operator:/src/workloads"}, *extra],
                         "securityContext": values["securityContext"],
                         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                         "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                                          {"name": "src", "mountPath": "/src", "readOnly": True}],
                     }],
                     "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
                                 {"name": "src", "hostPath": {"path": str(REPO), "type": "Directory"}}],
                 }}},
    }  # fmt: skip


@pytest.fixture(scope="session")
def fed_ns(kube: client.ApiClient) -> Iterator[str]:
    if not image_present(kube, RUNTIME_IMAGE):
        pytest.skip(f"{RUNTIME_IMAGE} is not in the cluster yet (run `make images`)")
    name = f"fl-{uuid.uuid4().hex[:6]}"
    restricted_namespace(kube, name)
    data_claim(kube, name)
    yield name
    client.CoreV1Api(kube).delete_namespace(name)
    client.CoreV1Api(kube).delete_persistent_volume(f"{name}-crc-data")


@pytest.fixture(scope="session")
def operator(kube: client.ApiClient, fed_ns: str) -> Iterator[str]:
    install_crds(kube)
    core, rbac, apps = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube), client.AppsV1Api(kube)
    _create(core.create_namespace, {"metadata": {"name": OPERATOR_NS}})
    _create(core.create_namespaced_service_account, OPERATOR_NS, {"metadata": {"name": OPERATOR_SA}})
    for obj in chart_rbac(OPERATOR_NS, [fed_ns], sa=OPERATOR_SA):
        apply_rbac(rbac, obj)
    try:
        apps.delete_namespaced_deployment("flarekube-operator", OPERATOR_NS)
        wait_for(lambda: not core.list_namespaced_pod(OPERATOR_NS).items, 60, "old operator pods gone")
    except client.ApiException as err:
        if err.status != 404:
            raise
    apps.create_namespaced_deployment(OPERATOR_NS, operator_deployment([fed_ns]))
    def ready() -> bool:
        return (apps.read_namespaced_deployment("flarekube-operator", OPERATOR_NS).status.ready_replicas or 0) >= 1

    wait_for(ready, 180, "operator Ready")
    yield OPERATOR_NS
    logs = operator_logs(kube)
    (REPO / ".cluster").mkdir(exist_ok=True)
    (REPO / ".cluster" / "e2e-operator.log").write_text(logs)


def operator_logs(kube: client.ApiClient) -> str:
    core = client.CoreV1Api(kube)
    pods = core.list_namespaced_pod(OPERATOR_NS, label_selector="app.kubernetes.io/component=operator").items
    return "\n".join(core.read_namespaced_pod_log(p.metadata.name, OPERATOR_NS, tail_lines=400) for p in pods)
