"""The kit store end to end with NVFlare's real provisioner and the local directory backend."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flarekube.provisioning import (
    AdminIdentity,
    ClientIdentity,
    CorruptState,
    KitStoreRefusal,
    LocalKitStore,
    ProvisioningInputs,
    ServerIdentity,
    ensure_kits,
    materialize,
)
from flarekube.provisioning.codec import decode_kit, encode_kit, kit_layout

BASE = ProvisioningInputs(
    project="crc",
    server=ServerIdentity(name="localhost", org="nvidia", fl_port=8002, admin_port=8003),
    clients=(ClientIdentity("site-1", "hospital_a"), ClientIdentity("site-2", "hospital_b")),
    admins=(AdminIdentity("admin@nvidia.com", "nvidia"),),
)
ALL = {"localhost", "site-1", "site-2", "admin@nvidia.com"}


def with_clients(*names: str) -> ProvisioningInputs:
    orgs = {"site-1": "hospital_a", "site-2": "hospital_b"}
    return dataclasses.replace(
        BASE, clients=tuple(ClientIdentity(n, orgs.get(n, "hospital_c")) for n in names)
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def kits_of(snap: dict[str, bytes], name: str) -> dict[str, bytes]:
    return {k: v for k, v in snap.items() if k.startswith(f"kits/{name}/")}


def ca_of(snap: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in snap.items() if k.startswith("ca/")}


def cert(store: LocalKitStore, name: str) -> x509.Certificate:
    return decode_kit(store.get_kit(name)).certificate()


def assert_chains_to_stored_root(store: LocalKitStore, name: str) -> None:
    root = x509.load_pem_x509_certificate((store.root / "ca" / "rootCA.pem").read_bytes())
    cert(store, name).verify_directly_issued_by(root)  # raises unless signed by the stored root
    assert decode_kit(store.get_kit(name)).files["startup/rootCA.pem"] == root.public_bytes(Encoding.PEM)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "store"
    report = ensure_kits(BASE, LocalKitStore(root))
    assert report.ca_created and set(report.issued) == ALL
    return root


@pytest.fixture
def store(provisioned: Path, tmp_path: Path) -> LocalKitStore:
    """A private copy of a provisioned store (provisioning once per module keeps the suite fast)."""
    shutil.copytree(provisioned, tmp_path / "store")
    return LocalKitStore(tmp_path / "store")


def test_same_inputs_again_issue_nothing_and_keep_bytes(store: LocalKitStore) -> None:
    before = snapshot(store.root)
    report = ensure_kits(BASE, store)
    assert report.issued == () and report.removed == () and set(report.kept) == ALL and not report.ca_created
    assert snapshot(store.root) == before


def test_report_gives_root_and_cert_expiry(store: LocalKitStore) -> None:
    report = ensure_kits(BASE, store)
    root = x509.load_pem_x509_certificate((store.root / "ca" / "rootCA.pem").read_bytes())
    assert report.ca_expires == root.not_valid_after_utc
    assert len(report.ca_fingerprint) == 64
    assert set(report.cert_expiry) == ALL
    assert all(exp <= report.ca_expires for exp in report.cert_expiry.values())


def test_new_site_issues_exactly_one_kit_under_the_same_root(store: LocalKitStore) -> None:
    before = snapshot(store.root)
    report = ensure_kits(with_clients("site-1", "site-2", "site-3"), store)
    assert report.issued == ("site-3",) and not report.ca_created
    after = snapshot(store.root)
    assert ca_of(after) == ca_of(before)
    for name in ALL:
        assert kits_of(after, name) == kits_of(before, name)
    assert_chains_to_stored_root(store, "site-3")


def test_new_admin_issues_exactly_one_kit(store: LocalKitStore) -> None:
    inp = dataclasses.replace(BASE, admins=(*BASE.admins, AdminIdentity("lead@nvidia.com", "nvidia", "lead")))
    assert ensure_kits(inp, store).issued == ("lead@nvidia.com",)
    assert_chains_to_stored_root(store, "lead@nvidia.com")


def test_removed_site_loses_only_its_kit(store: LocalKitStore) -> None:
    before = snapshot(store.root)
    report = ensure_kits(with_clients("site-1"), store)
    assert report.removed == ("site-2",) and report.issued == ()
    after = snapshot(store.root)
    assert kits_of(after, "site-2") == {} and "site-2" not in store.kit_names()
    untouched = {k: v for k, v in before.items() if "/site-2/" not in k and not k.startswith("ledger/")}
    assert untouched == {k: v for k, v in after.items() if not k.startswith("ledger/")}
    # the ledger records the removal: site-2's certificate may never connect again
    assert [e.status for e in report.ledger.entries if e.participant == "site-2"] == ["revoked"]


def test_root_ca_is_never_regenerated(store: LocalKitStore) -> None:
    ca = ca_of(snapshot(store.root))
    steps = [
        (with_clients("site-1", "site-2", "site-3"), {}),
        (with_clients("site-3"), {}),
        (
            dataclasses.replace(
                with_clients("site-3"), server=dataclasses.replace(BASE.server, fl_port=9002)
            ),
            {"reissue_kits": True},
        ),
        (BASE, {"reissue_kits": True, "new_root_ca": True}),  # permits a new root; none is needed
    ]
    for inp, flags in steps:
        ensure_kits(inp, store, **flags)
        assert ca_of(snapshot(store.root)) == ca
    for name in store.kit_names():
        assert_chains_to_stored_root(store, name)


def test_server_change_is_refused_then_reissued_under_the_same_root(store: LocalKitStore) -> None:
    moved = dataclasses.replace(BASE, server=dataclasses.replace(BASE.server, name="fl.example.org"))
    before = snapshot(store.root)
    with pytest.raises(KitStoreRefusal) as e:
        ensure_kits(moved, store)
    msg = str(e.value)
    assert "--reissue-kits" in msg and all(n in msg for n in ("site-1", "site-2", "admin@nvidia.com"))
    assert snapshot(store.root) == before  # a refusal changes nothing

    report = ensure_kits(moved, store, reissue_kits=True)
    assert set(report.issued) == {"fl.example.org", "site-1", "site-2", "admin@nvidia.com"}
    assert report.removed == ("localhost",) and not report.ca_created
    assert ca_of(snapshot(store.root)) == ca_of(before)
    server = cert(store, "fl.example.org")
    assert server.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "fl.example.org"
    fed_client = json.loads(decode_kit(store.get_kit("site-1")).files["startup/fed_client.json"])
    assert fed_client["servers"][0]["service"]["target"] == "fl.example.org:8002"
    for name in report.issued:
        assert_chains_to_stored_root(store, name)


def test_single_port_server(tmp_path: Path) -> None:
    inp = dataclasses.replace(BASE, server=dataclasses.replace(BASE.server, admin_port=8002))
    store = LocalKitStore(tmp_path / "s")
    ensure_kits(inp, store)
    fed_server = json.loads(decode_kit(store.get_kit("localhost")).files["startup/fed_server.json"])
    assert fed_server["servers"][0]["admin_port"] == 8002
    assert fed_server["servers"][0]["service"]["target"] == "localhost:8002"
    fed_admin = json.loads(decode_kit(store.get_kit("admin@nvidia.com")).files["startup/fed_admin.json"])
    assert fed_admin["admin"]["port"] == 8002 and fed_admin["admin"]["host"] == "localhost"


def test_project_rename_is_refused_unless_a_new_root_is_asked_for(store: LocalKitStore) -> None:
    renamed = dataclasses.replace(BASE, project="crc-v2")
    before = snapshot(store.root)
    with pytest.raises(KitStoreRefusal, match="--new-root-ca"):
        ensure_kits(renamed, store, reissue_kits=True)  # re-issuing kits is not enough
    assert snapshot(store.root) == before
    report = ensure_kits(renamed, store, new_root_ca=True)
    assert report.ca_created and set(report.issued) == ALL
    assert ca_of(snapshot(store.root)) != ca_of(before)
    for name in ALL:
        assert_chains_to_stored_root(store, name)


@pytest.mark.parametrize("damage", ["lose", "corrupt"])
def test_lost_or_corrupt_ca_is_refused(store: LocalKitStore, damage: str) -> None:
    if damage == "lose":
        shutil.rmtree(store.root / "ca")
    else:
        (store.root / "ca" / "rootCA.key").write_bytes(b"not a key")
    before = snapshot(store.root)
    with pytest.raises(KitStoreRefusal) as e:
        ensure_kits(BASE, store)
    assert "--new-root-ca" in str(e.value) and "locked out" in str(e.value)
    assert snapshot(store.root) == before
    report = ensure_kits(BASE, store, new_root_ca=True)
    assert report.ca_created and set(report.issued) == ALL


def test_crash_after_storing_the_ca_is_finished_under_that_ca(store: LocalKitStore) -> None:
    ca = ca_of(snapshot(store.root))
    for name in ("site-2", "admin@nvidia.com"):
        store.delete_kit(name)  # as if the run died before writing these
    report = ensure_kits(BASE, store)
    assert set(report.issued) == {"site-2", "admin@nvidia.com"} and ca_of(snapshot(store.root)) == ca


def test_unreadable_kit_needs_reissue_flag(store: LocalKitStore) -> None:
    (store.root / "kits" / "site-1" / "kit.json").write_bytes(b"{")
    with pytest.raises(KitStoreRefusal, match=r"site-1.*unreadable"):
        ensure_kits(BASE, store)
    assert ensure_kits(BASE, store, reissue_kits=True).issued == ("site-1",)


def test_store_modes(store: LocalKitStore) -> None:
    for p in [store.root, *store.root.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), p


def test_materialized_kit_modes_and_content(store: LocalKitStore, tmp_path: Path) -> None:
    ws = materialize(store, "site-1", tmp_path / "ws" / "site-1")
    kit = decode_kit(store.get_kit("site-1"))
    for p in [ws, *ws.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        rel = p.relative_to(ws).as_posix()
        if p.is_dir():
            assert mode == 0o700, rel
        else:
            assert p.read_bytes() == kit.files[rel]
            assert mode == (0o700 if rel.startswith("startup/") and rel.endswith(".sh") else 0o600), rel
    assert (ws / "transfer").is_dir() and (ws / "startup" / "sub_start.sh").exists()


def test_codec_rejects_paths_that_escape_the_kit(store: LocalKitStore) -> None:
    blobs = dict(encode_kit(decode_kit(store.get_kit("site-1"))))
    manifest = json.loads(blobs["kit.json"])
    manifest["files"][0]["path"] = "../../etc/evil"
    blobs["kit.json"] = json.dumps(manifest).encode()
    with pytest.raises(CorruptState, match="unsafe"):
        decode_kit(blobs)


def test_secret_safe_keys_and_volume_layout(store: LocalKitStore) -> None:
    for name in store.kit_names():
        blobs = store.get_kit(name)
        for key in blobs:
            assert re.fullmatch(r"[-._a-zA-Z0-9]+", key), key
        layout = {f.path: f for f in kit_layout(blobs)}
        kit = decode_kit(blobs)
        assert set(layout) == set(kit.files)
        assert all(blobs[f.key] == kit.files[p] for p, f in layout.items())
        assert (
            layout["startup/sub_start.sh" if name != "admin@nvidia.com" else "startup/fl_admin.sh"].mode
            == 0o700
        )


def test_no_key_material_in_logs_refusals_or_reprs(
    store: LocalKitStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ensure_kits(with_clients("site-1", "site-2", "site-3"), store)
    with pytest.raises(KitStoreRefusal) as e:
        ensure_kits(dataclasses.replace(BASE, project="renamed"), store)
    texts = [str(e.value), *(r.getMessage() for r in caplog.records)]
    texts.append(repr(decode_kit(store.get_kit("site-3"))))
    assert caplog.records, "expected the store to log what it did"
    for text in texts:
        assert "-----BEGIN" not in text and "PRIVATE KEY" not in text


def test_store_writes_are_create_only_unless_replacing(store: LocalKitStore) -> None:
    ca, kit = store.get_ca(), store.get_kit("site-1")
    assert ca is not None
    with pytest.raises(FileExistsError):
        store.put_ca(ca, replace=False)  # two racing first runs: the second loses instead of overwriting
    with pytest.raises(FileExistsError):
        store.put_kit("site-1", kit, replace=False)
    store.put_kit("site-1", {**kit, "kit.json": kit["kit.json"]}, replace=True)
    assert store.get_kit("site-1") == kit
    assert not any((store.root / ".staging").iterdir()), "staging left behind"
