"""Issue 18: superseded and revoked certificates are refused by the real NVFlare server (CertGuard).

A site renewed in a workspace keeps a copy of its OLD kit (as a hospital could): that copy, signed by the
same root, is refused while the new kit connects and the job finishes. A revoked site's old kit is
refused too, and the other sites keep training. Both start the old kit next to `flarekube run` once the
server is up, exactly as NVFlare's own start.sh would.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.api import load_bundle
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.local.federation import LOCAL_SERVER_HOST
from flarekube.local.workspace import Workspace
from flarekube.provisioning import LocalKitStore, ensure_kits, materialize
from flarekube.provisioning.ledger import decode_ledger

from tests.federation.test_kits_real import start, stop
from tests.support.federation import job_doc, project_doc
from tests.unit.test_certificates import openssl_verify

pytestmark = [pytest.mark.nvflare, pytest.mark.timeout(420)]

TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}
DAY = datetime.timedelta(days=1)


def cli(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "flarekube", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path, check=False)  # fmt: skip


def write(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all(list(docs)))
    return spec


def run_with_old_kit(tmp_path: Path, ws: Workspace, spec: Path, old_kit: Path) -> tuple[str, str, str]:
    """`flarekube run` on `spec`; the old kit is started once the server has deployed. Returns the run's
    output, the server's log and the old kit's log."""
    server_log = ws.logs / "server.log"
    procs: list[subprocess.Popen[bytes]] = []
    done = threading.Event()

    def start_old_kit_when_server_is_up() -> None:
        while not done.is_set():
            # The old kit shares the renewed site's cell name: started while the new kit is still
            # registering, the refusal can race that registration (seen once in CI: the new kit got an
            # empty reply and exited). The threat is a stale kit against a running federation, so it
            # starts once the renewed site has joined.
            text = server_log.read_text(errors="replace") if server_log.is_file() else ""
            if any("site-1" in line and " joined" in line for line in text.splitlines()):
                procs.append(start(old_kit))
                return
            time.sleep(0.3)

    helper = threading.Thread(target=start_old_kit_when_server_is_up)
    helper.start()
    try:
        out = cli(tmp_path, "run", str(spec), "--out", str(tmp_path / "out"))
    finally:
        done.set()
        helper.join()
        stop(procs)
    assert procs, "the server never deployed:\n" + out.stdout + out.stderr
    print(out.stdout[-1500:])
    assert out.returncode == 0, out.stdout + out.stderr
    old_log = (old_kit / "console.log").read_text(errors="replace")
    logs = [server_log, ws.participant("server") / "log.txt"]  # its console, and NVFlare's own log file
    return out.stdout, "".join(p.read_text(errors="replace") for p in logs if p.is_file()), old_log


def test_a_renewed_sites_old_kit_is_refused_while_the_new_one_trains(tmp_path: Path) -> None:
    project, job = project_doc("renew", 2), job_doc("tab", "renew", 1, 2, TABULAR)
    spec = write(tmp_path, project, job)
    fl = load_bundle([spec]).project
    ws = Workspace(tmp_path / "state" / "flarekube" / "renew")
    ws.create()
    inputs = provisioning_inputs(fl, LOCAL_SERVER_HOST, ws.ports((fl.spec.server.fl_port, fl.spec.server.admin_port)),
                                 humans=True)  # fmt: skip
    store = LocalKitStore(ws.kits)
    now = datetime.datetime.now(datetime.timezone.utc)
    others = [c for c in inputs.clients if c.name != "site-1"]
    ensure_kits(dataclasses.replace(inputs, clients=tuple(others)), store)
    # site-1's kit as issued 340 days ago (360-day validity): inside renewBefore (30 days) on the real clock
    ensure_kits(inputs, store, now=now - 340 * DAY)
    old_kit = materialize(store, "site-1", tmp_path / "kept-copy" / "site-1")
    old_serial = decode_ledger(store.get_ledger()).active("site-1").serial  # type: ignore[union-attr]
    root_before = store.get_ca()

    report = ensure_kits(inputs, store)  # what `flarekube run` does first, on its real clock
    assert report.renewed == ("site-1",)
    assert store.get_ca() == root_before
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)  # after the renewal
    assert "leaf.crt: OK" in openssl_verify(store, "site-1", tmp_path, later)  # against the unchanged root
    new_serial = report.ledger.active("site-1").serial  # type: ignore[union-attr]
    assert new_serial != old_serial and report.ledger.refused_serials() == {old_serial}

    _, server_log, old_log = run_with_old_kit(tmp_path, ws, spec, old_kit)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED" and set(summary["per_site"]) == {"site-1", "site-2"}, summary
    assert f"refused registration of 'site-1': certificate serial {old_serial}" in server_log, server_log[-3000:]
    assert "client_registration" in old_log, old_log[-2000:]
    assert f"certificate serial {new_serial}" not in server_log


def test_a_revoked_site_cannot_connect_with_its_old_kit_and_the_others_train(tmp_path: Path) -> None:
    project = project_doc("revoke", 3)
    spec = write(tmp_path, project)
    assert cli(tmp_path, "kits", str(spec)).returncode == 0
    ws = Workspace(tmp_path / "state" / "flarekube" / "revoke")
    store = LocalKitStore(ws.kits)
    old_kit = materialize(store, "site-3", tmp_path / "kept-copy" / "site-3")
    old_serial = decode_ledger(store.get_ledger()).active("site-3").serial  # type: ignore[union-attr]

    revoked = cli(tmp_path, "site", "revoke", "site-3", str(spec), "--reason", "left the consortium")
    assert revoked.returncode == 0, revoked.stderr
    assert "Remove site-3 from the FLProject" in revoked.stdout
    refused = cli(tmp_path, "run", str(write(tmp_path, project, job_doc("tab", "revoke", 1, 2, TABULAR))))
    assert refused.returncode == 4 and "--readmit-revoked" in refused.stderr  # not silently re-added

    project["spec"]["sites"] = project["spec"]["sites"][:2]
    spec = write(tmp_path, project, job_doc("tab", "revoke", 1, 2, TABULAR))
    _, server_log, old_log = run_with_old_kit(tmp_path, ws, spec, old_kit)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED" and set(summary["per_site"]) == {"site-1", "site-2"}, summary
    assert f"refused registration of 'site-3': certificate serial {old_serial}" in server_log, server_log[-3000:]
    assert "client_registration" in old_log, old_log[-2000:]
