"""Issue 10: a port change re-renders config and reconnects every site with no certificate re-issued."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from flarekube.local.ports import free_port

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}
SECRETS = (".crt", ".key", ".pem")


def identity_files(state: Path) -> dict[str, str]:
    """Digests of the whole kit store (CA, kits, ledger) and of every certificate/key in the participants'
    run copies of startup/ (not job transfers: NVFlare copies the submitter's certificate into each job)."""
    files = [p for p in (state / "kits").rglob("*") if p.is_file()]
    files += [p for p in (state / "run" / "participants").glob("*/startup/*") if p.suffix in SECRETS]
    return {p.relative_to(state).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def target_port(state: Path, participant: str) -> int:
    config = json.loads((state / "run" / "participants" / participant / "startup" / "fed_client.json").read_text())
    return int(config["servers"][0]["service"]["target"].rpartition(":")[2])


def test_a_port_change_reconnects_every_site_and_re_issues_nothing(run_flarekube, tmp_path: Path) -> None:
    project = project_doc("moved", 2)
    job = job_doc("tab", "moved", 1, 2, TABULAR)
    first = run_flarekube(project, job)
    assert first.returncode == 0, first.stdout + first.stderr
    state = tmp_path / "state" / "flarekube" / "moved"
    before = identity_files(state)
    assert any(k.endswith(".key") for k in before) and any(k.startswith("kits/ledger/") for k in before)
    old = json.loads((state / "ports.json").read_text())

    fl, admin = free_port(), free_port()
    while admin == fl or old["fl"] in (fl, admin) or old["admin"] in (fl, admin):
        fl, admin = free_port(), free_port()
    project["spec"]["server"] = {"flPort": fl, "adminPort": admin}
    again = run_flarekube(project, job)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "issued 0" in again.stdout and "nothing re-issued" in again.stdout, again.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED" and set(summary["sites"]) == {"site-1", "site-2"}

    assert json.loads((state / "ports.json").read_text())["fl"] == fl
    for site in ("site-1", "site-2"):  # the run copies dialled the new port; the kits still say the old
        assert target_port(state, site) == fl
        kit = json.loads((state / "kits" / "kits" / site / "startup.fed_client.json").read_text())
        assert kit["servers"][0]["service"]["target"].endswith(f":{old['fl']}")
    fed_server = json.loads((state / "run" / "participants" / "server" / "startup" / "fed_server.json").read_text())
    assert fed_server["servers"][0]["admin_port"] == admin
    fed_admin = json.loads((state / "run" / "participants" / "admin" / "startup" / "fed_admin.json").read_text())
    assert fed_admin["admin"]["port"] == admin
    assert identity_files(state) == before  # every certificate, key, kit and the ledger byte-identical
    assert nvflare_processes(str(tmp_path)) == []
