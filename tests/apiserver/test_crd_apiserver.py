"""The chart's CRDs on a real kube-apiserver: every invalid document of the shared catalogue is rejected
by the API server itself (OpenAPI schema or CEL), naming its field; valid ones are stored with the same
defaults pydantic applies; transition rules keep the project name and CA identity fixed.

Requests use field validation Strict, as `kubectl apply` does: unknown fields are errors, not pruned.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.api import parse_document
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.apiserver import GROUP, NS, PLURAL, VERSION
from tests.support.helm import KUBE_VERSION, NOT_BUILT, helm_binary
from tests.support.speccases import CASES, Case, job, names_field, project

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # self-signed

REPO = Path(__file__).resolve().parents[2]
def create(custom: client.CustomObjectsApi, doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL[doc["kind"]], doc, field_validation="Strict"
    )
    return result


def delete(custom: client.CustomObjectsApi, kind: str, name: str) -> None:
    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL[kind], name)


def rejection(custom: client.CustomObjectsApi, doc: dict[str, Any]) -> str:
    """The API server's message for a document it must reject (fails the test if it is stored)."""
    try:
        stored = create(custom, doc)
    except ApiException as err:
        assert err.status in (400, 422), f"unexpected HTTP {err.status}: {err.body}"
        return str(json.loads(err.body)["message"])
    delete(custom, doc["kind"], stored["metadata"]["name"])
    raise AssertionError(f"the API server accepted an invalid {doc['kind']}: {json.dumps(doc)[:300]}")


def test_catalogue_has_at_least_40_documents() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_document_is_rejected_by_the_api_server(custom: client.CustomObjectsApi, case: Case) -> None:
    doc = case.document()
    doc["metadata"].setdefault("name", "x")
    message = rejection(custom, doc)
    assert names_field(message, case.field), f"the message does not name {case.field}: {message}"


def test_valid_documents_are_accepted_with_pydantics_defaults(custom: client.CustomObjectsApi) -> None:
    minimal = project()
    minimal["metadata"]["name"] = "minimal"
    del minimal["spec"]["server"]
    algorithms = []
    for i, algorithm in enumerate([{"name": "fedprox", "mu": 0}, {"name": "fedopt", "serverOptimizer": "adam"},
                                   {"name": "fedopt", "serverLearningRate": 1, "serverMomentum": 0.9}]):  # fmt: skip
        algorithms.append(job())
        algorithms[-1]["metadata"]["name"] = f"algorithm-{i}"
        algorithms[-1]["spec"]["algorithm"] = algorithm
    for doc in (project(), job(), *algorithms, minimal):  # minimal last: its stored form is checked below
        stored = create(custom, doc)
        try:
            # The API server applied the CRD's defaults; pydantic must read the stored object exactly as
            # it reads what the user wrote (same effective spec, nothing lost, nothing added).
            assert parse_document(stored).spec == parse_document(doc).spec
        finally:
            delete(custom, doc["kind"], doc["metadata"]["name"])
    assert stored["spec"]["server"] == {"name": "server", "org": "flarekube", "flPort": 8002, "adminPort": 8003}


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_accepted(custom: client.CustomObjectsApi, path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        create(custom, doc)
    for doc in docs:
        delete(custom, doc["kind"], doc["metadata"]["name"])


def _replace(custom: client.CustomObjectsApi, doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = custom.replace_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL[doc["kind"]], doc["metadata"]["name"], doc, field_validation="Strict"
    )
    return result


TRANSITIONS = [
    # (id, change to the stored spec, field the error names; None: the change is allowed)
    ("project-name-changed", lambda s: s.update(projectName="other"), "spec.projectName"),
    ("project-name-removed", lambda s: s.pop("projectName"), "spec.projectName"),
    ("server-host-changed", lambda s: s["server"].update(host="other.example.org"), "spec.server.host"),
    ("server-host-removed", lambda s: s["server"].pop("host"), "spec.server.host"),
    ("server-org-changed", lambda s: s["server"].update(org="other_org"), "spec.server.org"),
    ("site-added", lambda s: s["sites"].append({"name": "site-4", "org": "d", "data": {"pvc": {"claimName": "d"}}}),
     None),
    ("server-port-changed", lambda s: s["server"].update(flPort=9002), None),
]


@pytest.mark.parametrize(("case_id", "change", "field"), TRANSITIONS, ids=[t[0] for t in TRANSITIONS])
def test_transition_rules(custom: client.CustomObjectsApi, case_id: str, change: Any, field: str | None) -> None:
    doc = project()
    doc["metadata"]["name"] = f"t-{case_id}"
    doc["spec"]["projectName"] = "hospitals"
    doc["spec"]["server"].update(host="fl.example.org", org="flarekube_org")
    stored = create(custom, doc)
    try:
        updated = copy.deepcopy(stored)
        change(updated["spec"])
        if field is None:
            _replace(custom, updated)
            return
        with pytest.raises(ApiException) as caught:
            _replace(custom, updated)
        message = json.loads(caught.value.body)["message"]
        assert caught.value.status == 422 and names_field(message, field), message
        assert "immutable" in message
    finally:
        delete(custom, "FLProject", doc["metadata"]["name"])


def test_project_name_may_be_spelled_out_once_as_the_default(custom: client.CustomObjectsApi) -> None:
    """Setting projectName to what it already was (metadata.name) changes nothing, so it is allowed."""
    doc = project()
    stored = create(custom, doc)
    try:
        stored["spec"]["projectName"] = "hospitals"
        _replace(custom, stored)
        stored = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "flprojects", "hospitals")
        stored["spec"]["projectName"] = "renamed"
        with pytest.raises(ApiException):
            _replace(custom, stored)
    finally:
        delete(custom, "FLProject", "hospitals")


def _table(api: client.ApiClient, plural: str) -> tuple[list[str], list[list[Any]]]:
    request = api.param_serialize(
        "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{plural}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, auth_settings=["BearerToken"],
    )
    raw = api.call_api(*request)
    raw.read()
    response = json.loads(raw.data)
    names = [c["name"].upper() for c in response["columnDefinitions"]]
    return names, [row["cells"] for row in response["rows"]]


def test_printer_columns_show_the_status(apiserver: client.ApiClient, custom: client.CustomObjectsApi) -> None:
    create(custom, project())
    create(custom, job())
    try:
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, NS, "flprojects", "hospitals", {"status": {
            "phase": "Ready", "sitesConnected": 3, "sitesTotal": 4, "sitesSummary": "3/4",
            "serverEndpoint": "server.default.svc:8002", "caExpires": "2031-11-23T06:00:00Z",
            "certsExpire": "2027-11-18T06:00:00Z",
            "conditions": [{"type": "Ready", "status": "False", "reason": "SitesNotConnected"}],
            "futureField": "kept",  # a field this schema does not know yet is preserved, not pruned
        }})
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, NS, "fljobs", "train", {"status": {
            "phase": "Running", "round": 7, "rounds": 10, "roundSummary": "7/10", "metric": "0.873",
        }})
        names, rows = _table(apiserver, "flprojects")
        # CERTS-EXPIRE (issue 18): the earliest participant certificate expiry, before it locks a site out.
        assert names == ["NAME", "PHASE", "SITES", "SERVER", "CA-EXPIRES", "CERTS-EXPIRE", "AGE"]
        assert rows[0][:6] == ["hospitals", "Ready", "3/4", "server.default.svc:8002", "2031-11-23T06:00:00Z",
                               "2027-11-18T06:00:00Z"]
        names, rows = _table(apiserver, "fljobs")
        assert names == ["NAME", "PROJECT", "ALGORITHM", "ROUND", "PHASE", "METRIC", "AGE"]
        assert rows[0][:6] == ["train", "hospitals", "fedavg", "7/10", "Running", "0.873"]
        stored = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "flprojects", "hospitals")
        assert stored["status"]["futureField"] == "kept"
    finally:
        delete(custom, "FLJob", "train")
        delete(custom, "FLProject", "hospitals")


def test_status_cannot_be_written_through_the_main_resource(custom: client.CustomObjectsApi) -> None:
    """With the status subresource, a spec update ignores status (users cannot fake a Ready project)."""
    doc = project()
    doc["status"] = {"phase": "Ready"}
    stored = create(custom, doc)
    try:
        assert "status" not in stored or stored["status"].get("phase") != "Ready"
    finally:
        delete(custom, "FLProject", "hospitals")


def test_chart_objects_are_accepted_and_the_pod_is_restricted(apiserver: client.ApiClient) -> None:
    """Every rendered object passes the API server's own validation (strict: no unknown field), and the
    operator's pod passes Pod Security `restricted` in a namespace that enforces it."""
    helm = helm_binary()
    if helm is None:
        pytest.skip(NOT_BUILT)
    from kubernetes import utils

    namespace = "flarekube-system"
    core = client.CoreV1Api(apiserver)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=namespace, labels={"pod-security.kubernetes.io/enforce": "restricted"})))
    try:
        out = subprocess.run(
            [helm, "template", "flarekube", str(REPO / "charts" / "flarekube"), "--namespace", namespace,
             *KUBE_VERSION, "--set", "monitoring.enabled=true"], capture_output=True, text=True, check=True,
        ).stdout
        objects = [d for d in yaml.safe_load_all(out) if d]
        assert {o["kind"] for o in objects} >= {"Deployment", "ServiceAccount", "Service", "ConfigMap"}
        for obj in objects:
            if obj["kind"] == "ServiceAccount":  # really created: the pod below must find it
                utils.create_from_dict(apiserver, obj, namespace=namespace)
            else:
                utils.create_from_dict(apiserver, obj, namespace=namespace, dry_run="All", field_validation="Strict")
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "operator-pod-check"},
               "spec": deployment["spec"]["template"]["spec"]}
        core.create_namespaced_pod(namespace, pod, dry_run="All", field_validation="Strict")
        # The control: the same pod without its security contexts is refused, so `restricted` is enforced.
        bare = copy.deepcopy(pod)
        bare["spec"].pop("securityContext")
        bare["spec"]["containers"][0].pop("securityContext")
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(namespace, bare, dry_run="All")
        assert "violates PodSecurity" in refused.value.body
    finally:
        core.delete_namespace(namespace)
