"""plan() on its own: pure decisions from inputs + stored records, no NVFlare, no store."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flarekube.provisioning import (
    AdminIdentity,
    CAState,
    ClientIdentity,
    KitPlan,
    ProvisioningInputs,
    ServerIdentity,
    StoredState,
    plan,
)
from flarekube.provisioning.model import wanted_records

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def make_ca(project: str = "crc", days: int = 3650) -> CAState:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, project)])
    start = NOW - datetime.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CAState(project, cert.public_bytes(serialization.Encoding.PEM), key_pem)


CA = make_ca()


def inputs(clients: tuple[str, ...] = ("site-1", "site-2"), **server: Any) -> ProvisioningInputs:
    s = ServerIdentity(name="localhost", org="nvidia", fl_port=8002, admin_port=8002)
    return ProvisioningInputs(
        project="crc",
        server=dataclasses.replace(s, **server),
        clients=tuple(ClientIdentity(c, "hospital") for c in clients),
        admins=(AdminIdentity("admin@nvidia.com", "nvidia"),),
    )


def stored_for(inp: ProvisioningInputs, ca: CAState | None = CA) -> StoredState:
    root = ca.fingerprint if ca else "0" * 64
    return StoredState(ca, None, {n: (r, root) for n, r in wanted_records(inp).items()})


def names(p: KitPlan) -> list[str]:
    return [k.record.name for k in p.issue]


def test_first_run_creates_root_and_issues_everything() -> None:
    p = plan(inputs(), StoredState(None), now=NOW)
    assert p.refusal is None and p.create_root_ca
    assert names(p) == ["localhost", "site-1", "site-2", "admin@nvidia.com"]


def test_same_inputs_change_nothing() -> None:
    inp = inputs()
    p = plan(inp, stored_for(inp), now=NOW)
    assert p.changes_nothing and p.refusal is None
    assert p.keep == ("localhost", "site-1", "site-2", "admin@nvidia.com")


def test_new_site_issues_only_that_site() -> None:
    p = plan(inputs(("site-1", "site-2", "site-3")), stored_for(inputs()), now=NOW)
    assert not p.create_root_ca and names(p) == ["site-3"] and p.remove == ()


def test_removed_site_is_removed_only() -> None:
    p = plan(inputs(("site-1",)), stored_for(inputs()), now=NOW)
    assert p.remove == ("site-2",) and p.issue == () and "site-1" in p.keep


def test_server_name_change_needs_reissue_flag() -> None:
    """The server's name is identity: its certificate's CN, and the TLS identity every kit expects."""
    stored = stored_for(inputs())
    refused = plan(inputs(name="fl.example.org"), stored, now=NOW)
    assert refused.refusal and "--reissue-kits" in refused.refusal and refused.changes_nothing
    for participant in ("site-1", "site-2", "admin@nvidia.com"):
        assert participant in refused.refusal
    allowed = plan(inputs(name="fl.example.org"), stored, reissue_kits=True, now=NOW)
    assert allowed.refusal is None and not allowed.create_root_ca
    assert set(names(allowed)) == {"site-1", "site-2", "admin@nvidia.com", "fl.example.org"}


@pytest.mark.parametrize("change", [{"fl_port": 9002}, {"admin_port": 9003}, {"fl_port": 9002, "admin_port": 9002}])
def test_port_change_re_renders_config_and_re_issues_nothing(change: dict[str, Any]) -> None:
    """Issue 10: ports are config (builders/connection.py), so no flag is needed and nothing is issued."""
    stored = stored_for(inputs())
    for flags in ({}, {"reissue_kits": True}):  # asking for re-issue does not make a port change one
        p = plan(inputs(**change), stored, now=NOW, **flags)
        assert p.refusal is None and p.issue == () and p.changes_nothing and not p.create_root_ca
        assert set(p.keep) == {"localhost", "site-1", "site-2", "admin@nvidia.com"}
        assert {k.record.name for k in p.reconfigure} == set(p.keep)
        for k in p.reconfigure:
            assert "config re-rendered, nothing re-issued" in k.reason
            assert all(f"{field} " in k.reason for field in change)
    unchanged = plan(inputs(), stored, now=NOW)
    assert unchanged.reconfigure == () and unchanged.changes_nothing


def test_port_and_name_change_together_re_issue_for_the_name_only() -> None:
    p = plan(inputs(name="fl.example.org", fl_port=9002), stored_for(inputs()), reissue_kits=True, now=NOW)
    assert p.refusal is None and "fl.example.org" in names(p)
    site = next(k for k in p.issue if k.record.name == "site-1")
    assert "server_name" in site.reason and "fl_port" not in site.reason  # the reason is the identity change


def test_server_org_change_touches_only_the_server_kit() -> None:
    p = plan(inputs(org="other_org"), stored_for(inputs()), reissue_kits=True, now=NOW)
    assert names(p) == ["localhost"]


def test_site_org_change_names_the_site_and_the_change() -> None:
    stored = stored_for(inputs())
    inp = dataclasses.replace(
        inputs(), clients=(ClientIdentity("site-1", "other"), ClientIdentity("site-2", "hospital"))
    )
    p = plan(inp, stored, now=NOW)
    assert p.refusal and "site-1" in p.refusal and "'hospital' -> 'other'" in p.refusal
    assert "site-2 " not in p.refusal


def test_rename_needs_new_root_flag() -> None:
    inp = dataclasses.replace(inputs(), project="crc2")
    p = plan(inp, stored_for(inputs()), now=NOW)
    assert p.refusal and "--new-root-ca" in p.refusal and "renamed" in p.refusal
    assert "locked out" in p.refusal
    p = plan(inp, stored_for(inputs()), new_root_ca=True, now=NOW)
    assert p.create_root_ca and len(p.issue) == 4


def test_lost_ca_with_kits_needs_new_root_flag() -> None:
    stored = dataclasses.replace(stored_for(inputs()), ca=None, ca_error="rootCA.key cannot be parsed")
    p = plan(inputs(), stored, now=NOW)
    assert p.refusal and "--new-root-ca" in p.refusal and "rootCA.key cannot be parsed" in p.refusal
    stored = dataclasses.replace(stored, ca_error=None)
    p = plan(inputs(), stored, now=NOW)
    assert p.refusal and "missing" in p.refusal


def test_expired_root_needs_new_root_flag() -> None:
    inp = inputs()
    p = plan(inp, stored_for(inp), now=NOW + datetime.timedelta(days=4000))
    assert p.refusal and "expired" in p.refusal and "--new-root-ca" in p.refusal


def test_new_root_flag_never_forces_a_new_root() -> None:
    inp = inputs()
    p = plan(inp, stored_for(inp), new_root_ca=True, now=NOW)
    assert p.changes_nothing


def test_kit_from_another_root_or_unreadable_needs_reissue() -> None:
    inp = inputs()
    stored = stored_for(inp)
    records = wanted_records(inp)
    kits = {**stored.kits, "site-1": (records["site-1"], "f" * 64), "site-2": None}
    p = plan(inp, dataclasses.replace(stored, kits=kits), now=NOW)
    assert p.refusal and "different root CA" in p.refusal and "unreadable" in p.refusal
    # --new-root-ca implies re-issue, so a crash after storing a new root is finished by re-running it
    p = plan(inp, dataclasses.replace(stored, kits=kits), new_root_ca=True, now=NOW)
    assert not p.create_root_ca and sorted(names(p)) == ["site-1", "site-2"]


def test_duplicate_names_and_bad_ports_are_rejected() -> None:
    with pytest.raises(ValueError, match="used twice"):
        plan(inputs(("site-1", "site-1")), StoredState(None), now=NOW)
    with pytest.raises(ValueError, match=r"server\.fl_port"):
        plan(inputs(fl_port=70000), StoredState(None), now=NOW)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clients": (ClientIdentity("site-1", "hospital-a"),)}, r"clients\[0\]\.org"),  # NVFlare: no "-"
        ({"clients": (ClientIdentity("site 1", "h"),)}, r"clients\[0\]\.name"),
        ({"admins": (AdminIdentity("not-an-email", "h"),)}, r"admins\[0\]\.email"),
        ({"project": "../x"}, "project"),
    ],
)
def test_inputs_nvflare_would_reject_are_named_before_anything_is_issued(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        plan(dataclasses.replace(inputs(), **change), StoredState(None), now=NOW)


def test_refusals_and_reprs_carry_no_key_material() -> None:
    assert "BEGIN" not in repr(CA) and "BEGIN" not in repr(stored_for(inputs()))
    inp = dataclasses.replace(inputs(), project="crc2")
    msg = plan(inp, stored_for(inputs()), now=NOW).refusal or ""
    assert "BEGIN" not in msg and CA.fingerprint not in msg


def test_unusable_ca_is_refused_even_without_kits() -> None:
    p = plan(inputs(), StoredState(None, ca_error="ca.json is not valid JSON"), now=NOW)
    assert p.refusal and "--new-root-ca" in p.refusal and "not valid JSON" in p.refusal
