"""The FLProject reconciler against a real kube-apiserver, as the chart's RBAC role, in a restricted namespace.

No kubelet here (pods never start), so this covers everything up to running pods: the objects the API
server accepts, Pod Security `restricted` admission of every pod template, the kit invariants across
crashes at every fault point, a 4th site, and exactly the permissions the chart grants.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube import faults, naming
from flarekube.api.errors import SpecProblem
from flarekube.builders.project import target
from flarekube.controller import project as reconcile
from flarekube.kube import apply as k
from kubernetes import client

from tests.support.helm import apply_rbac, chart_rbac

CHART = Path(__file__).resolve().parents[2] / "charts" / "flarekube"
SA_NS, SA = "flarekube-system", "flarekube"
POINTS = ["after-ca-secret", "after-kit-secret", "after-kits", "after-server-apply", "after-site-apply",
          "before-status"]  # fmt: skip


class Crash(BaseException):
    """Stands in for the operator's os._exit at a fault point."""


@pytest.fixture(scope="module")
def operator_api(apiserver: client.ApiClient) -> Iterator[client.ApiClient]:
    """CRDs installed; an ApiClient that acts as the operator's ServiceAccount bound to the chart's rules."""
    ext = client.ApiextensionsV1Api(apiserver)
    for crd in sorted((CHART / "crds").glob("*.yaml")):
        doc = yaml.safe_load(crd.read_text())
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as err:
            if err.status != 409:
                raise
    core, rbac = client.CoreV1Api(apiserver), client.RbacAuthorizationV1Api(apiserver)
    try:
        core.create_namespace({"metadata": {"name": SA_NS}})
    except client.ApiException as err:
        if err.status != 409:
            raise
    # Each test makes its own namespace, so the operator here is the chart's clusterWide mode.
    for obj in chart_rbac(SA_NS, cluster_wide=True, sa=SA):
        apply_rbac(rbac, obj)
    cfg = apiserver.configuration
    api = client.ApiClient(cfg, header_name="Impersonate-User", header_value=f"system:serviceaccount:{SA_NS}:{SA}")

    deadline = time.monotonic() + 30  # CRDs become servable a moment after they are created
    while time.monotonic() < deadline:
        try:
            k.list_objects(apiserver, "FLProject", "default", "")
            break
        except client.ApiException:
            time.sleep(0.5)
    yield api
    api.close()


@pytest.fixture
def ns(apiserver: client.ApiClient) -> str:
    name = f"fl-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}  # fmt: skip
    core = client.CoreV1Api(apiserver)
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})  # no controller-manager here
    return name


def make_project(admin: client.ApiClient, ns: str, sites: int, name: str = "crc") -> dict[str, Any]:
    body = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": name, "namespace": ns},
            "spec": {"sites": [{"name": f"site-{i}", "org": f"org{i}", "data": {"pvc": {"claimName": "crc-data"}}}
                               for i in range(1, sites + 1)]}}  # fmt: skip
    return k.create(admin, body)


def secrets(api: client.ApiClient, ns: str) -> dict[str, tuple[str, Any]]:
    """The CA and kit Secrets (identity). The certificate ledger beside them is a record that changes with
    every issuance by design, so it is not part of "nothing was rewritten" (see ledger())."""
    items = k.list_objects(api, "Secret", ns, naming.selector(naming.project_labels("crc")))
    return {s["metadata"]["name"]: (s["metadata"]["resourceVersion"], s["data"]) for s in items
            if s["metadata"]["name"] != naming.ledger_secret("crc")}  # fmt: skip


def ledger(api: client.ApiClient, ns: str) -> list[dict[str, Any]]:
    secret = k.get(api, "Secret", ns, naming.ledger_secret("crc")) or {}
    raw = base64.b64decode((secret.get("data") or {}).get("ledger.json", ""))
    return list(json.loads(raw)["entries"]) if raw else []


def test_reconcile_builds_everything_as_the_chart_role(apiserver: client.ApiClient, operator_api: client.ApiClient,
                                                       ns: str) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 3)
    status = reconcile.reconcile_project(operator_api, body, full=True, poll=False).wire()
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["KitsIssued"] == "True" and conds["ServerReady"] == "False"  # no kubelet: no pods
    assert status["sitesSummary"] == "0/3" and status["serverEndpoint"] == f"crc-server.{ns}.svc.cluster.local:8002"
    deployments = k.list_objects(apiserver, "Deployment", ns, naming.selector(naming.project_labels("crc")))
    names = sorted(d["metadata"]["name"] for d in deployments)
    assert names == ["crc-server", "crc-site-1", "crc-site-2", "crc-site-3"]
    assert len(secrets(apiserver, ns)) == 6
    assert k.get(apiserver, "PersistentVolumeClaim", ns, "crc-server-workspace") is not None
    assert k.get(apiserver, "NetworkPolicy", ns, "crc-server") is not None
    # The status the operator computes is accepted by the CRD's status schema, unchanged.
    stored = k.merge_patch(operator_api, "FLProject", ns, "crc", {"status": status}, subresource="status")
    assert stored["status"]["sitesSummary"] == "0/3"
    # Pod Security `restricted` admits every pod the Deployments would create (server-side dry run).
    for dep in deployments:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": dep["metadata"]["name"], "namespace": ns},
               "spec": dep["spec"]["template"]["spec"]}  # fmt: skip
        k.call(apiserver, "POST", k.path("Pod", ns), pod, "application/json", [("dryRun", "All")])
    # Re-running changes nothing (server-side apply of the same objects is a no-op).
    versions = {d["metadata"]["name"]: d["metadata"]["resourceVersion"] for d in deployments}
    reconcile.reconcile_project(operator_api, k.get(apiserver, "FLProject", ns, "crc") or {}, full=True, poll=False)
    again = k.list_objects(apiserver, "Deployment", ns, naming.selector(naming.project_labels("crc")))
    assert {d["metadata"]["name"]: d["metadata"]["resourceVersion"] for d in again} == versions


def test_the_cluster_holds_the_operator_admin_kit_and_no_human_admin_kit(
        apiserver: client.ApiClient, operator_api: client.ApiClient, ns: str) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 2)
    body = k.merge_patch(apiserver, "FLProject", ns, "crc", {"spec": {"admins": [
        {"email": "lead@hospital-a.org", "org": "org1", "role": "lead"}, {"email": "admin@flarekube.io", "org": "x"}]}})
    reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    kits = k.list_objects(apiserver, "Secret", ns, naming.selector(
        naming.project_labels("crc") | {naming.LABEL_COMPONENT: naming.COMPONENT_KIT}))  # fmt: skip
    held = {s["metadata"]["annotations"][naming.ANNOTATION_PARTICIPANT] for s in kits}
    operator = "flarekube-operator@crc.flarekube.io"
    assert held == {f"crc-server.{ns}.svc.cluster.local", "site-1", "site-2", operator}
    for human in ("lead@hospital-a.org", "admin@flarekube.io"):  # the spec's admins: their keys stay with them
        assert k.get(apiserver, "Secret", ns, naming.kit_secret("crc", human)) is None
    assert target(k.get(apiserver, "FLProject", ns, "crc") or {}).admin == operator  # who submits every job


def test_a_fourth_site_issues_exactly_one_kit(apiserver: client.ApiClient, operator_api: client.ApiClient,
                                              ns: str) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 3)
    reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    before = secrets(apiserver, ns)
    spec = body["spec"]
    spec["sites"].append({"name": "site-4", "org": "org4", "data": {"pvc": {"claimName": "crc-data"}}})
    updated = k.merge_patch(apiserver, "FLProject", ns, "crc", {"spec": {"sites": spec["sites"]}})
    reconcile.reconcile_project(operator_api, updated, full=True, poll=False)
    after = secrets(apiserver, ns)
    assert set(after) - set(before) == {naming.kit_secret("crc", "site-4")}
    assert {n: after[n] for n in before} == before  # bytes and resourceVersion
    assert k.get(apiserver, "Deployment", ns, "crc-site-4") is not None
    # Removing it again deletes its kit and Deployment only.
    k.merge_patch(apiserver, "FLProject", ns, "crc", {"spec": {"sites": spec["sites"][:3]}})
    reconcile.reconcile_project(operator_api, k.get(apiserver, "FLProject", ns, "crc") or {}, full=True, poll=False)
    assert secrets(apiserver, ns) == before
    assert k.get(apiserver, "Deployment", ns, "crc-site-4") is None
    # The ledger kept the record: site-4's certificate was issued, then revoked with its removal.
    assert {e["participant"]: e["status"] for e in ledger(apiserver, ns)}.get("site-4") == "revoked"


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_point_converges_without_regenerating(apiserver: client.ApiClient,
                                                             operator_api: client.ApiClient, ns: str, point: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 3)

    def die(at: str) -> None:
        if at == point:
            raise Crash(at)

    with monkeypatch.context() as m:
        m.setattr(faults, "hit", die)
        with pytest.raises(Crash):
            reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    partial = secrets(apiserver, ns)
    status = reconcile.reconcile_project(operator_api, k.get(apiserver, "FLProject", ns, "crc") or {}, full=True,
                                         poll=False).wire()  # fmt: skip
    final = secrets(apiserver, ns)
    assert {n: final[n] for n in partial} == partial, "a kit or the CA was rewritten after the crash"
    assert len(final) == 6 and next(c for c in status["conditions"] if c["type"] == "KitsIssued")["status"] == "True"
    assert len(k.list_objects(apiserver, "Deployment", ns, naming.selector(naming.project_labels("crc")))) == 4


def test_job_runtime_pod_is_refused_with_the_field(apiserver: client.ApiClient, operator_api: client.ApiClient,
                                                   ns: str) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 1)
    body = k.merge_patch(apiserver, "FLProject", ns, "crc", {"spec": {"jobRuntime": "pod"}})
    with pytest.raises(SpecProblem, match=r"spec\.jobRuntime"):
        reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    status = reconcile.failed_status(body, "spec.jobRuntime: not supported").wire()
    assert status["phase"] == "Failed"
    assert secrets(apiserver, ns) == {}  # nothing half-applied


ALLOWED = [("create", "", "configmaps"), ("patch", "", "configmaps"),
           ("get", "", "secrets"), ("create", "", "secrets"), ("delete", "", "secrets"),
           ("patch", "apps", "deployments"), ("create", "apps", "deployments"), ("watch", "flarekube.io", "flprojects"),
           ("patch", "flarekube.io", "fljobs/status"), ("list", "", "pods"), ("create", "", "events")]  # fmt: skip
DENIED = [("update", "", "secrets"), ("create", "", "pods/exec"), ("create", "", "pods"), ("delete", "", "pods"),
          ("delete", "", "namespaces"), ("list", "", "nodes"), ("create", "rbac.authorization.k8s.io", "roles"),
          ("create", "rbac.authorization.k8s.io", "clusterrolebindings"), ("delete", "flarekube.io", "flprojects"),
          ("create", "flarekube.io", "flprojects"), ("create", "", "serviceaccounts/token"),
          ("delete", "", "persistentvolumeclaims"), ("update", "apps", "deployments")]  # fmt: skip


def can(apiserver: client.ApiClient, verb: str, group: str, resource: str) -> bool:
    plural, _, sub = resource.partition("/")
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": f"system:serviceaccount:{SA_NS}:{SA}",
                       "groups": ["system:serviceaccounts", f"system:serviceaccounts:{SA_NS}", "system:authenticated"],
                       "resourceAttributes": {"namespace": "fl", "verb": verb, "group": group, "resource": plural,
                                              "subresource": sub}}}  # fmt: skip
    out = k.call(apiserver, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review, "application/json")
    return bool(out["status"].get("allowed"))


def test_the_role_grants_what_is_needed_and_nothing_else(apiserver: client.ApiClient,
                                                         operator_api: client.ApiClient) -> None:  # fmt: skip
    assert [a for a in ALLOWED if not can(apiserver, *a)] == []
    assert [d for d in DENIED if can(apiserver, *d)] == []


def test_the_poll_reuses_its_kit_check_until_a_kit_secret_changes(apiserver: client.ApiClient,
                                                                   operator_api: client.ApiClient,
                                                                   ns: str) -> None:  # fmt: skip
    body = make_project(apiserver, ns, 2)
    reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    before = secrets(apiserver, ns)
    reconcile.reconcile_project(operator_api, body, full=False, poll=False)  # memo hit: nothing changes
    assert secrets(apiserver, ns) == before
    gone = naming.kit_secret("crc", "site-2")
    k.delete(apiserver, "Secret", ns, gone)
    time.sleep(0.5)
    status = reconcile.reconcile_project(operator_api, body, full=False, poll=False).wire()
    after = secrets(apiserver, ns)
    assert gone in after and after[gone] != before[gone]  # a deleted kit is missing, so it is issued again
    assert {n: v for n, v in after.items() if n != gone} == {n: v for n, v in before.items() if n != gone}
    assert next(c for c in status["conditions"] if c["type"] == "KitsIssued")["status"] == "True"


def test_a_policy_change_rolls_the_site_and_leaves_every_kit_identical(apiserver: client.ApiClient,
                                                                        operator_api: client.ApiClient,
                                                                        ns: str) -> None:  # fmt: skip
    """Issue 10: policy is not identity. Changing site-1's policy rewrites its local/ ConfigMap and the digest
    on its pod template; every kit Secret (and the CA) keeps its bytes and resourceVersion."""
    body = make_project(apiserver, ns, 2)
    reconcile.reconcile_project(operator_api, body, full=True, poll=False)
    before = secrets(apiserver, ns)

    def local(site: str) -> dict[str, Any]:
        cm = k.get(apiserver, "ConfigMap", ns, naming.local_config("crc", site))
        assert cm is not None, site
        return cm

    def digest(site: str) -> str:
        dep = k.get(apiserver, "Deployment", ns, naming.site("crc", site)) or {}
        return str(dep["spec"]["template"]["metadata"]["annotations"][naming.ANNOTATION_LOCAL_CONFIG])

    cm1, cm2, d1, d2 = local("site-1"), local("site-2"), digest("site-1"), digest("site-2")
    assert '"byoc": "none"' in cm1["data"]["authorization.json"]
    rendered = {f"local.{name}" for name in ("authorization.json", "resources.json", "privacy.json")}
    assert not [key for _, data in before.values() for key in data if key in rendered]  # no policy in a kit
    sites = body["spec"]["sites"]
    sites[0]["policy"] = {"customCode": "allow", "privacy": {"topPercent": {"percent": 25}}}
    updated = k.merge_patch(apiserver, "FLProject", ns, "crc", {"spec": {"sites": sites}})
    reconcile.reconcile_project(operator_api, updated, full=True, poll=False)

    assert secrets(apiserver, ns) == before  # bytes and resourceVersion of the CA and every kit
    after1 = local("site-1")
    assert after1["data"] != cm1["data"] and '"byoc": "any"' in after1["data"]["authorization.json"]
    assert "PercentilePrivacy" in after1["data"]["privacy.json"]
    assert digest("site-1") != d1  # the Deployment's pod template changed: the site rolls
    assert local("site-2")["metadata"]["resourceVersion"] == cm2["metadata"]["resourceVersion"]
    assert digest("site-2") == d2  # the other site is not restarted
