"""The kit invariants on real Secrets: issue once, add one site -> one new Secret, survive crashes anywhere.

Real NVFlare provisioning, a real kube-apiserver (no controllers needed: Secrets, finalizers and
immutability are all enforced by the API server itself).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flarekube import naming
from flarekube.api import FLProject, parse_document
from flarekube.builders.common import Owner
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.kube import apply as k
from flarekube.kube.kitstore import SecretKitStore
from flarekube.provisioning import ensure_kits
from kubernetes import client
from kubernetes.client.exceptions import ApiException


class Crash(BaseException):
    """Stands in for os._exit at a fault point (BaseException: nothing in the code path catches it)."""


@pytest.fixture
def ns(apiserver: client.ApiClient) -> Iterator[str]:
    name = f"kits-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(apiserver).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name


def project(n_sites: int) -> FLProject:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": "crc"},
           "spec": {"sites": [{"name": f"site-{i}", "org": f"org{i}"} for i in range(1, n_sites + 1)]}}  # fmt: skip
    p = parse_document(doc)
    assert isinstance(p, FLProject)
    return p


def store(api: client.ApiClient, ns: str, fault: object = None) -> SecretKitStore:
    return SecretKitStore(api, Owner("FLProject", "crc", "uid-crc", ns), "crc", fault=fault)  # type: ignore[arg-type]


def secrets(api: client.ApiClient, ns: str) -> dict[str, tuple[str, dict]]:
    """The CA and kit Secrets (identity). The certificate ledger beside them is a record that changes with
    every issuance by design, so it is not part of "nothing was rewritten" (see ledger())."""
    items = k.list_objects(api, "Secret", ns, naming.selector(naming.project_labels("crc")))
    return {s["metadata"]["name"]: (s["metadata"]["resourceVersion"], s["data"]) for s in items
            if s["metadata"]["name"] != naming.ledger_secret("crc")}  # fmt: skip


def inputs(ns: str, n: int):  # type: ignore[no-untyped-def]
    return provisioning_inputs(project(n), naming.server_host("crc", ns), humans=False)


def test_issue_once_then_add_one_site(apiserver: client.ApiClient, ns: str) -> None:
    first = ensure_kits(inputs(ns, 3), store(apiserver, ns))
    assert first.ca_created and len(first.issued) == 5  # server, 3 sites, the operator's admin
    assert "flarekube-operator@crc.flarekube.io" in first.issued
    assert "admin@flarekube.io" not in first.issued  # the spec's human admin: never a kit in the cluster
    before = secrets(apiserver, ns)
    assert naming.ca_secret("crc") in before and len(before) == 6
    again = ensure_kits(inputs(ns, 3), store(apiserver, ns))
    assert again.issued == () and secrets(apiserver, ns) == before
    added = ensure_kits(inputs(ns, 4), store(apiserver, ns))
    assert added.issued == ("site-4",) and not added.ca_created
    after = secrets(apiserver, ns)
    assert set(after) - set(before) == {naming.kit_secret("crc", "site-4")}
    assert {n: after[n] for n in before} == before  # bytes and resourceVersion unchanged
    removed = ensure_kits(inputs(ns, 2), store(apiserver, ns))
    assert set(removed.removed) == {"site-3", "site-4"}
    assert naming.kit_secret("crc", "site-3") not in secrets(apiserver, ns)


def test_kit_secrets_are_immutable_and_the_ca_is_protected(apiserver: client.ApiClient, ns: str) -> None:
    ensure_kits(inputs(ns, 1), store(apiserver, ns))
    core = client.CoreV1Api(apiserver)
    name = naming.kit_secret("crc", "site-1")
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_secret(name, ns, {"data": {"kit.json": "e30="}})
    assert err.value.status == 422  # immutable
    ca = core.read_namespaced_secret(naming.ca_secret("crc"), ns)
    assert naming.CA_FINALIZER in ca.metadata.finalizers and ca.metadata.owner_references[0].kind == "FLProject"
    core.delete_namespaced_secret(naming.ca_secret("crc"), ns)
    # The finalizer holds it: the root CA is still readable, so nothing can be re-issued under a new CA.
    held = core.read_namespaced_secret(naming.ca_secret("crc"), ns)
    assert held.metadata.deletion_timestamp is not None and held.data["rootCA.pem"] == ca.data["rootCA.pem"]
    store(apiserver, ns).release_ca()


def test_a_secret_that_claims_to_be_a_kit_is_not_taken_for_one(apiserver: client.ApiClient, ns: str) -> None:
    """Issue 12: kits are matched by name, not by labels alone (a tenant can create labelled Secrets)."""
    ensure_kits(inputs(ns, 1), store(apiserver, ns))
    real = store(apiserver, ns).get_kit("site-1")
    forged = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "zz-forged", "namespace": ns,
                           "labels": {**naming.project_labels("crc"), naming.LABEL_COMPONENT: naming.COMPONENT_KIT},
                           "annotations": {naming.ANNOTATION_PARTICIPANT: "site-1"}},
              "data": {"kit.json": "e30="}}  # fmt: skip
    k.create(apiserver, forged)
    assert store(apiserver, ns).get_kit("site-1") == real
    assert ensure_kits(inputs(ns, 1), store(apiserver, ns)).issued == ()


@pytest.mark.parametrize(("point", "nth"), [("after-ca-secret", 1), ("after-kit-secret", 1), ("after-kit-secret", 3)])
def test_a_crash_at_any_write_regenerates_nothing(apiserver: client.ApiClient, ns: str, point: str, nth: int) -> None:
    seen = {"n": 0}

    def fault(at: str) -> None:
        if at == point:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(at)

    with pytest.raises(Crash):
        ensure_kits(inputs(ns, 3), store(apiserver, ns, fault))
    partial = secrets(apiserver, ns)
    report = ensure_kits(inputs(ns, 3), store(apiserver, ns))  # "the restarted operator"
    assert not report.ca_created
    final = secrets(apiserver, ns)
    assert {n: final[n] for n in partial} == partial  # what existed before the crash is untouched
    assert len(final) == 6
    ca_pem = final[naming.ca_secret("crc")][1]["rootCA.pem"]
    for name, (_, data) in final.items():
        if name != naming.ca_secret("crc"):
            assert data["startup.rootCA.pem"] == ca_pem  # every kit trusts the one CA
