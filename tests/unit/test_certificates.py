"""Leaf certificates signed on flarekube's clock with NVFlare's layout; the ledger; renewal (fake clock)."""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from flarekube.provisioning import (
    AdminIdentity,
    CertPolicy,
    ClientIdentity,
    LocalKitStore,
    ProvisioningInputs,
    ServerIdentity,
    ensure_kits,
)
from flarekube.provisioning import issue as issue_module
from flarekube.provisioning.codec import decode_kit
from flarekube.provisioning.kits import load_state
from flarekube.provisioning.ledger import decode_ledger, kit_digest
from nvflare.lighter.impl.cert import CertBuilder

BASE = ProvisioningInputs(
    project="crc",
    server=ServerIdentity(name="localhost", org="nvidia", fl_port=8002, admin_port=8003),
    clients=(ClientIdentity("site-1", "hospital_a"), ClientIdentity("site-2", "hospital_b")),
    admins=(AdminIdentity("admin@nvidia.com", "nvidia"),),
)

T0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
SHORT = CertPolicy(validity_days=10, renew_before_days=3)
LONG = CertPolicy(validity_days=30, renew_before_days=3)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def cert(store: LocalKitStore, name: str) -> x509.Certificate:
    return decode_kit(store.get_kit(name)).certificate()


def openssl_verify(store: LocalKitStore, name: str, tmp: Path, at: datetime.datetime) -> str:
    """`openssl verify` of the stored leaf against the stored root, at time ``at`` (the fake clock)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    kit = decode_kit(store.get_kit(name))
    (tmp / "rootCA.pem").write_bytes(store.get_ca()["rootCA.pem"])  # type: ignore[index]
    (tmp / "leaf.crt").write_bytes(kit.files[kit.cert_path])
    out = subprocess.run(
        ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(tmp / "rootCA.pem"),
         str(tmp / "leaf.crt")], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_leaf_lives_the_spec_validity_on_the_injected_clock(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    ensure_kits(dataclasses.replace(BASE, certs=SHORT), store, now=T0)
    for name in ("localhost", "site-1", "admin@nvidia.com"):
        c = cert(store, name)
        assert c.not_valid_before_utc == T0 and c.not_valid_after_utc == T0 + 10 * DAY, name
    assert "leaf.crt: OK" in openssl_verify(store, "site-1", tmp_path, T0 + DAY)


def _ext(c: x509.Certificate) -> dict[str, object]:
    skip = {x509.SubjectKeyIdentifier.oid}  # depends on the (fresh) key
    return {e.oid.dotted_string: (e.critical, e.value) for e in c.extensions if e.oid not in skip}


def test_layout_equals_nvflares_own_certbuilder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same root, same subject, issuer, SANs and extensions as NVFlare's own CertBuilder writes."""
    ours = LocalKitStore(tmp_path / "ours")
    ensure_kits(BASE, ours, now=T0)
    monkeypatch.setattr(issue_module, "ClockedCertBuilder", lambda days, policy, now: CertBuilder(days))
    theirs = issue_module.issue_kits(BASE, load_state(ours).ca, ["localhost", "site-1", "admin@nvidia.com"])
    for kit in theirs.kits:
        a, b = cert(ours, kit.name), kit.certificate()
        assert a.subject == b.subject and a.issuer == b.issuer, kit.name
        assert _ext(a) == _ext(b), kit.name
        assert a.signature_hash_algorithm.name == b.signature_hash_algorithm.name  # type: ignore[union-attr]
        assert a.public_key().key_size == b.public_key().key_size  # type: ignore[union-attr]


def test_every_issuance_is_in_the_ledger_with_the_kits_digest(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    report = ensure_kits(BASE, store, now=T0)
    ledger = decode_ledger(store.get_ledger())
    assert ledger == report.ledger
    assert {e.participant for e in ledger.entries} == set(store.kit_names())
    for e in ledger.entries:
        assert e.status == "active"
        assert e.kit_sha256 == kit_digest(store.get_kit(e.participant))
        assert e.serial == format(cert(store, e.participant).serial_number, "X")
    before = snapshot(store.root)
    ensure_kits(BASE, store, now=T0 + DAY)  # nothing due: nothing written, the ledger included
    assert snapshot(store.root) == before


def test_renewal_fresh_key_same_root_only_that_kit(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    without_site1 = dataclasses.replace(BASE, clients=BASE.clients[1:], certs=LONG)
    ensure_kits(without_site1, store, now=T0)  # server, site-2, admin: 30 days
    ensure_kits(dataclasses.replace(BASE, certs=SHORT), store, now=T0)  # site-1: 10 days
    old = cert(store, "site-1")
    before = snapshot(store.root)

    quiet = ensure_kits(dataclasses.replace(BASE, certs=SHORT), store, now=T0 + 6 * DAY)  # 4 days left > 3
    assert quiet.issued == () and snapshot(store.root) == before

    report = ensure_kits(dataclasses.replace(BASE, certs=SHORT), store, now=T0 + 8 * DAY)  # 2 days left
    assert report.renewed == ("site-1",) and report.issued == ("site-1",)
    after = snapshot(store.root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert {k.split("/")[0] + "/" + k.split("/")[1] for k in changed} == {"kits/site-1", "ledger/ledger.json"}
    new = cert(store, "site-1")
    assert new.serial_number != old.serial_number
    assert new.public_key().public_numbers() != old.public_key().public_numbers()  # type: ignore[union-attr]
    assert new.not_valid_before_utc == T0 + 8 * DAY and new.not_valid_after_utc == T0 + 18 * DAY
    assert "leaf.crt: OK" in openssl_verify(store, "site-1", tmp_path, T0 + 9 * DAY)  # the unchanged root

    entries = [e for e in report.ledger.entries if e.participant == "site-1"]
    assert [(e.serial, e.status) for e in entries] == [
        (format(old.serial_number, "X"), "superseded"), (format(new.serial_number, "X"), "active")]  # fmt: skip
    assert entries[0].reason.startswith("renewal")
    assert format(old.serial_number, "X") in report.ledger.refused_serials()

    again = ensure_kits(dataclasses.replace(BASE, certs=SHORT), store, now=T0 + 8 * DAY)  # renewed once only
    assert again.issued == () and snapshot(store.root) == after
