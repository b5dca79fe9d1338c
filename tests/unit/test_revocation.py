"""Superseded and revoked certificates: ledger transitions, `site revoke`, the server's refused list and
its CertGuard (real NVFlare messages, real certificates), and the rolling renewal's order."""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flarekube.builders import sitelocal
from flarekube.builders.renewal import RunningJob, schedule
from flarekube.provisioning import KitStoreRefusal, LocalKitStore, ensure_kits
from flarekube.provisioning.codec import decode_kit
from flarekube.provisioning.kits import revoke_kit
from flarekube.provisioning.ledger import REVOKED_FOR_GOOD, decode_ledger
from flarekube.status.project import check_certificates
from flarekube_workloads.certguard import CertGuard, serial_of
from flarekube_workloads.contract import REFUSED_CERTS_FILE
from nvflare.apis.shareable import Shareable
from nvflare.fuel.f3.cellnet.defs import IdentityChallengeKey, MessageHeaderKey, ReturnCode
from nvflare.fuel.f3.message import Message
from nvflare.private.defs import CellMessageHeaderKeys

from tests.unit.test_certificates import BASE, DAY, SHORT, T0, cert
from tests.unit.test_status import snap


def _serial(store: LocalKitStore, name: str) -> str:
    return format(cert(store, name).serial_number, "X")


def test_revoke_marks_only_that_site_and_refuses_to_readd_it_without_the_flag(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    ensure_kits(BASE, store, now=T0)
    old = _serial(store, "site-2")
    ledger = revoke_kit(store, "site-2", "hospital left")
    assert "site-2" not in store.kit_names() and decode_ledger(store.get_ledger()) == ledger
    by_serial = {e.serial: e for e in ledger.entries}
    assert by_serial[old].status == "revoked" and by_serial[old].reason == f"{REVOKED_FOR_GOOD}: hospital left"
    assert {e.status for e in ledger.entries if e.participant != "site-2"} == {"active"}
    assert ledger.refused_serials() == {old} and ledger.revoked_for_good() == {"site-2"}
    assert revoke_kit(store, "site-2") == ledger  # idempotent

    with pytest.raises(KitStoreRefusal, match=r"(?s)site-2.*revoked for good.*--readmit-revoked"):
        ensure_kits(BASE, store, now=T0)  # the spec still lists it
    assert "site-2" not in store.kit_names()
    dropped = dataclasses.replace(BASE, clients=BASE.clients[:1])
    assert ensure_kits(dropped, store, now=T0).issued == ()  # the others carry on untouched

    back = ensure_kits(BASE, store, now=T0, readmit_revoked=True)
    assert back.issued == ("site-2",) and _serial(store, "site-2") != old
    assert back.ledger.revoked_for_good() == frozenset() and old in back.ledger.refused_serials()


def test_a_site_dropped_from_the_spec_is_revoked_but_may_come_back(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    ensure_kits(BASE, store, now=T0)
    old = _serial(store, "site-1")
    report = ensure_kits(dataclasses.replace(BASE, clients=BASE.clients[1:]), store, now=T0)
    assert {e.serial: e.status for e in report.ledger.entries}[old] == "revoked"
    assert report.ledger.revoked_for_good() == frozenset()
    assert ensure_kits(BASE, store, now=T0).issued == ("site-1",)


def test_a_held_renewal_waits_and_the_rest_renew(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    inputs = dataclasses.replace(BASE, certs=SHORT)
    ensure_kits(inputs, store, now=T0)
    report = ensure_kits(inputs, store, now=T0 + 8 * DAY, hold={"localhost", "site-2"})
    assert set(report.renewed) == {"site-1", "admin@nvidia.com"}
    assert ensure_kits(inputs, store, now=T0 + 8 * DAY).renewed == ("localhost", "site-2")


def test_refused_list_is_rendered_deterministically_into_the_servers_local(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    inputs = dataclasses.replace(BASE, certs=SHORT)
    ensure_kits(inputs, store, now=T0)
    superseded = _serial(store, "site-1")
    ensure_kits(dataclasses.replace(inputs, clients=inputs.clients[:1]), store, now=T0)  # site-2: revoked
    report = ensure_kits(inputs, store, now=T0 + 8 * DAY)  # renews all (site-2 re-added with a new kit)
    server_kit = decode_kit(store.get_kit("localhost")).files
    entries = report.ledger.entries
    files = sitelocal.render_local(server_kit, "server", ledger=entries)
    assert files == sitelocal.render_local(server_kit, "server", ledger=tuple(reversed(entries)))
    refused = json.loads(files[REFUSED_CERTS_FILE])
    listed = [e["serial"] for e in refused["refused"]]
    assert refused["format"] == 1 and listed == sorted(report.ledger.refused_serials())
    assert superseded in {e["serial"] for e in refused["refused"]}
    assert {e["status"] for e in refused["refused"]} == {"superseded", "revoked"}
    assert not any(e.serial in {r["serial"] for r in refused["refused"]} for e in entries if e.status == "active")
    components = json.loads(files[sitelocal.RESOURCES])["components"]
    assert [c for c in components if c["id"] == "flarekube_cert_guard"] == [sitelocal.CERT_GUARD]
    # The list is read live: a new serial there changes the ConfigMap, not the digest that rolls the server.
    assert sitelocal.digest(files) == sitelocal.digest(sitelocal.render_local(server_kit, "server"))
    assert REFUSED_CERTS_FILE not in sitelocal.render_local(decode_kit(store.get_kit("site-1")).files, "client")


def _register(cert_pem: bytes, name: str = "site-1") -> Message:
    payload = Shareable()
    payload[IdentityChallengeKey.CERT] = cert_pem
    return Message({CellMessageHeaderKeys.CLIENT_NAME: name}, payload)


def test_certguard_refuses_listed_serials_and_rereads_its_file(tmp_path: Path) -> None:
    store = LocalKitStore(tmp_path / "store")
    inputs = dataclasses.replace(BASE, certs=SHORT)
    ensure_kits(inputs, store, now=T0)
    old_pem = decode_kit(store.get_kit("site-1")).files["startup/client.crt"]
    report = ensure_kits(inputs, store, now=T0 + 8 * DAY, hold={"localhost", "site-2", "admin@nvidia.com"})
    new_pem = decode_kit(store.get_kit("site-1")).files["startup/client.crt"]
    local = tmp_path / "local"
    local.mkdir()
    guard = CertGuard(str(local / REFUSED_CERTS_FILE))
    guard._path = local / REFUSED_CERTS_FILE  # what SYSTEM_START resolves (tested end to end in federation)
    assert guard.check(_register(old_pem)) is None  # no list yet: nothing superseded
    (local / REFUSED_CERTS_FILE).write_bytes(sitelocal.refused_certificates(report.ledger.entries))
    refused = guard.check(_register(old_pem))
    assert refused is not None and refused.get_header(MessageHeaderKey.RETURN_CODE) == ReturnCode.UNAUTHENTICATED
    assert serial_of(old_pem) in str(refused.get_header(MessageHeaderKey.ERROR))
    assert guard.check(_register(new_pem)) is None
    (local / REFUSED_CERTS_FILE).write_text("{not json")
    closed = guard.check(_register(new_pem))  # unreadable list: fail closed
    assert closed is not None and closed.get_header(MessageHeaderKey.RETURN_CODE) == ReturnCode.UNAUTHENTICATED


NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
SITES = ("site-1", "site-2", "site-3")


def test_rolling_sites_one_at_a_time_earliest_expiry_first() -> None:
    due = {"site-2": NOW + 2 * DAY, "site-1": NOW + 3 * DAY, "site-3": NOW + 2 * DAY, "ops@x.org": NOW + DAY}
    d = schedule(due, server="server", sites=SITES, connected=SITES, jobs=(), now=NOW)
    assert d.renew == ("site-2", "ops@x.org")  # site-2 ties site-3 on expiry, wins on the name
    first = "one site at a time: site-2 renews first"
    assert d.waiting == {"site-3": first, "site-1": first}
    later = schedule({k: v for k, v in due.items() if k in ("site-1", "site-3")}, server="server", sites=SITES,
                     connected=SITES, jobs=(), now=NOW)  # fmt: skip
    assert later.renew == ("site-3",) and later.hold == {"site-1"}


def test_rolling_sites_as_the_running_jobs_fault_tolerance_allows() -> None:
    due = {"site-1": NOW + 2 * DAY}
    strict = RunningJob("crc", frozenset(SITES), needed=3)
    d = schedule(due, server="server", sites=SITES, connected=SITES, jobs=(strict,), now=NOW)
    assert d.renew == () and "job crc needs 3 of its sites" in d.waiting["site-1"]
    tolerant = RunningJob("crc", frozenset(SITES), needed=2)
    assert schedule(due, server="server", sites=SITES, connected=SITES, jobs=(tolerant,), now=NOW).renew == ("site-1",)
    # site-3 is missing already: the job has no site left to spare
    d = schedule(due, server="server", sites=SITES, connected={"site-1", "site-2"}, jobs=(tolerant,), now=NOW)
    assert d.hold == {"site-1"}
    other = RunningJob("other", frozenset({"site-2", "site-3"}), needed=2)  # site-1 is not in it
    assert schedule(due, server="server", sites=SITES, connected=SITES, jobs=(other,), now=NOW).renew == ("site-1",)
    expired = schedule({"site-1": NOW - DAY}, server="server", sites=SITES, connected=SITES, jobs=(strict,), now=NOW)
    assert expired.renew == ("site-1",)  # locked out already: nothing to protect


def test_server_renewal_waits_for_the_running_job_and_status_says_so() -> None:
    due = {"server": NOW + 2 * DAY}
    job = RunningJob("crc-fedavg", frozenset(SITES), needed=2)
    d = schedule(due, server="server", sites=SITES, connected=SITES, jobs=(job,), now=NOW)
    assert d.renew == () and d.hold == {"server"} and "crc-fedavg" in d.waiting["server"]
    assert schedule(due, server="server", sites=SITES, connected=SITES, jobs=(), now=NOW).renew == ("server",)
    cond = check_certificates(snap(checked_at=NOW, renewal_waiting=d.waiting))
    assert (cond.status, cond.reason) == ("True", "RenewalWaiting")
    assert "renewal of server waits for the running job(s) crc-fedavg" in (cond.message or "")
    assert check_certificates(snap(checked_at=NOW)).reason == "CertificatesValid"


def test_site_revoke_command(tmp_path: Path) -> None:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": "rev"},
           "spec": {"sites": [{"name": "site-1", "org": "a"}, {"name": "site-2", "org": "b"}]}}  # fmt: skip
    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump(doc))
    ws = tmp_path / "ws"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flarekube", *args], capture_output=True, text=True,
                              check=False, timeout=120)  # fmt: skip

    assert cli("site", "revoke", "site-2", str(spec), "--workspace", str(ws)).returncode == 1  # nothing issued
    assert cli("kits", str(spec), "--workspace", str(ws)).returncode == 0
    bad = cli("site", "revoke", "nosuch", str(spec), "--workspace", str(ws))
    assert bad.returncode == 3 and "NAME: 'nosuch'" in bad.stderr
    out = cli("site", "revoke", "site-2", str(spec), "--workspace", str(ws), "-o", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["revokedSerials"] and data["stillInSpec"] and not data["alreadyRevoked"]
    assert not (ws / "kits" / "kits" / "site-2").exists()
    refused = cli("kits", str(spec), "--workspace", str(ws))
    assert refused.returncode == 4 and "--readmit-revoked" in refused.stderr
    assert cli("kits", str(spec), "--workspace", str(ws), "--readmit-revoked").returncode == 0


def test_the_operator_builds_nothing_for_a_site_revoked_for_good() -> None:
    from flarekube.builders.localconfig import LOCAL_MOUNT
    from flarekube.builders.project import Target, desired, site_deployments, without_sites
    from flarekube_workloads.contract import LIVE_LOCAL_ENV

    from tests.unit.test_builders_k8s import CONNECTION, LOCAL, MANIFEST, OWNER, project

    t = Target(project(), OWNER, "crc-server.fl.svc", 4)
    cut = without_sites(t, {"site-2", "not-a-site"})
    assert cut.participants == ["crc-server.fl.svc", "site-1", "site-3"] and t.participants[2] == "site-2"
    assert without_sites(t, ()) is t
    every = t.participants
    local, connection = dict.fromkeys(every, LOCAL), dict.fromkeys(every, CONNECTION)
    objects = desired(cut, dict.fromkeys(every, MANIFEST), local, connection, None)
    assert not any("site-2" in o["metadata"]["name"] for o in objects)
    assert site_deployments(objects) == {"crc-server", "crc-site-1", "crc-site-3"}
    server_pod = next(o for o in objects if o["kind"] == "Deployment" and "server" in o["metadata"]["name"])
    env = {e["name"]: e.get("value") for e in server_pod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[LIVE_LOCAL_ENV] == LOCAL_MOUNT  # CertGuard reads the refused list where the kubelet updates it
