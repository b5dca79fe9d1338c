"""Issue 10: the operator's own admin identity, the only admin kit a cluster holds (real NVFlare provisioner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from flarekube.api import FLProject, SpecError, parse_document
from flarekube.builders.project import target
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.builders.sitelocal import OPERATOR_ROLE
from flarekube.provisioning import LocalKitStore, ensure_kits
from flarekube.provisioning.codec import decode_kit

OPERATOR = "flarekube-operator@crc.flarekube.io"
HUMANS = ("lead@hospital-a.org", "admin@hospital-b.org")


def project(admins: list[dict[str, str]] | None = None) -> FLProject:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": "crc"},
           "spec": {"sites": [{"name": "site-1", "org": "hospital_a"}],
                    "admins": admins or [{"email": HUMANS[0], "org": "hospital_a", "role": "lead"},
                                         {"email": HUMANS[1], "org": "hospital_b"}]}}  # fmt: skip
    p = parse_document(doc)
    assert isinstance(p, FLProject)
    return p


def test_a_cluster_is_issued_the_operator_admin_and_no_human_admin() -> None:
    inputs = provisioning_inputs(project(), "crc-server.ns.svc", humans=False)
    assert [(a.email, a.org, a.role) for a in inputs.admins] == [(OPERATOR, "flarekube", OPERATOR_ROLE)]
    local = provisioning_inputs(project(), "localhost", humans=True)
    assert [a.email for a in local.admins] == [*HUMANS, OPERATOR]  # a person's machine: everyone's kit


def test_every_submission_uses_the_operator_identity() -> None:
    body = {**project().model_dump(by_alias=True, exclude_none=True),
            "metadata": {"name": "crc", "namespace": "ns", "uid": "u1", "generation": 1}}  # fmt: skip
    assert target(body).admin == OPERATOR  # not admins[0], a human whose kit the cluster does not hold


def test_a_human_admin_may_not_take_the_operator_name() -> None:
    with pytest.raises(SpecError) as err:
        project([{"email": "flarekube-operator@crc.flarekube.io", "org": "x"}])
    assert any(p.startswith("spec.admins[0].email") and "reserved" in p for p in err.value.problems), err.value


def test_the_operator_kit_carries_its_role_in_the_certificate(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "kits")
    report = ensure_kits(provisioning_inputs(project(), "localhost", humans=False), store)
    assert set(report.issued) == {"localhost", "site-1", OPERATOR}
    kit = decode_kit(store.get_kit(OPERATOR))
    subject = kit.certificate().subject
    assert subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == OPERATOR
    # NVFlare's server reads the admin's role from its certificate when it authorizes a command.
    assert subject.get_attributes_for_oid(x509.NameOID.UNSTRUCTURED_NAME)[0].value == OPERATOR_ROLE
    assert json.loads(kit.files["startup/fed_admin.json"])["admin"]["username"] == OPERATOR


def test_an_existing_project_moves_to_the_operator_kit_issuing_only_that_one(tmp_path: Path) -> None:
    """A CA Secret issued before the operator identity (human admin kits, no operator kit): the next
    reconcile issues the operator's kit alone, deletes the humans' kits, keeps every other kit's bytes."""
    p, store = project(), LocalKitStore(tmp_path / "kits")
    old = provisioning_inputs(p, "crc-server.ns.svc", humans=True)
    ensure_kits(type(old)(old.project, old.server, old.clients, old.admins[:-1]), store)  # the old inputs
    before = {n: store.get_kit(n) for n in ("crc-server.ns.svc", "site-1")}
    report = ensure_kits(provisioning_inputs(p, "crc-server.ns.svc", humans=False), store)
    assert report.issued == (OPERATOR,) and not report.ca_created
    assert set(report.removed) == set(HUMANS) and set(store.kit_names()) == {*before, OPERATOR}
    assert {n: store.get_kit(n) for n in before} == before
