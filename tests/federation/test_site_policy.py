"""Issue 10: each site's own policy, rendered into its local/ and enforced by NVFlare at that site."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from flarekube_workloads.tabular import baseline
from flarekube_workloads.tabular.data import load_site

from tests.federation.test_user_job_folder import export_user_job
from tests.support.federation import CRC, job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}


def certificates(state: Path) -> dict[str, str]:
    """Every certificate and key the kit store holds (by file), as digests."""
    kits = state / "kits"
    return {p.relative_to(kits).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in kits.rglob("*") if p.is_file() and p.suffix in (".crt", ".key", ".pem")}  # fmt: skip


def test_custom_code_refused_by_one_site_runs_on_the_other(run_flarekube, tmp_path: Path) -> None:
    project = project_doc("policy", 2)
    project["spec"]["sites"][0]["policy"] = {"customCode": "deny"}
    project["spec"]["sites"][1]["policy"] = {"customCode": "allow"}
    user = export_user_job(tmp_path, rounds=1, sites=1)
    user_job = job_doc("user-job", "policy", 1, 1, {"kind": "jobFolder", "jobFolder": {"path": str(user)}})
    user_job["spec"]["timeoutSeconds"] = 120
    builtin = job_doc("tab", "policy", 1, 2, TABULAR)

    result = run_flarekube(project, user_job, builtin)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    custom = json.loads((out / "user-job" / "summary.json").read_text())
    assert custom["status"] == "FINISHED:COMPLETED"
    assert set(custom["refused"]) == {"site-1"} and "BYOC" in custom["refused"]["site-1"], custom
    built_in = json.loads((out / "tab" / "summary.json").read_text())
    assert built_in["status"] == "FINISHED:COMPLETED" and built_in["refused"] == {}
    assert set(built_in["per_site"]) == {"site-1", "site-2"}  # flarekube's own job ran on both

    state = tmp_path / "state" / "flarekube" / "policy"
    local_a = state / "run" / "participants" / "site-1" / "local" / "authorization.json"
    before_authz, before_certs = local_a.read_bytes(), certificates(state)
    assert json.loads(before_authz)["permissions"]["lead"]["byoc"] == "none"
    assert before_certs and not list(state.glob("kits/kits/*/local.authorization.json"))

    # site-1 changes its mind: its local/ is re-rendered, NVFlare now runs the job there, no kit changes
    project["spec"]["sites"][0]["policy"] = {"customCode": "allow"}
    again = run_flarekube(project, user_job)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "issued 0" in again.stdout
    assert json.loads((out / "summary.json").read_text())["refused"] == {}
    assert local_a.read_bytes() != before_authz
    assert json.loads(local_a.read_bytes())["permissions"]["lead"]["byoc"] == "any"
    assert certificates(state) == before_certs
    assert nvflare_processes(str(tmp_path)) == []


def test_top_percent_privacy_the_server_receives_sparse_differences(run_flarekube, tmp_path: Path) -> None:
    project = project_doc("private", 2)
    project["spec"]["sites"][0]["policy"] = {"privacy": {"topPercent": {"percent": 25}}}
    job = job_doc("tab", "private", 4, 2, {**TABULAR, "localEpochs": 2})  # the job asks for no privacy
    result = run_flarekube(project, job)
    assert result.returncode == 0, result.stdout + result.stderr

    audit = tmp_path / "state" / "flarekube" / "private" / "run" / "metrics" / "audit" / "server.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    by_site = {s: [r for r in records if r["site"] == s] for s in ("site-1", "site-2")}
    assert len(by_site["site-1"]) == 4 and len(by_site["site-2"]) == 4, records
    for r in records:
        assert r["kind"] == "WEIGHT_DIFF", r  # differences, not weights: the filter cannot zero the model
    for r in by_site["site-1"]:
        assert r["nonzero"] <= 0.25 * r["total"], r  # what arrived at the server, after site-1's filter
    for r in by_site["site-2"]:
        assert r["nonzero"] > 0.9 * r["total"], r  # site-2 has no privacy policy: dense updates

    weights = baseline.load_state_dict(tmp_path / "out" / "global_model.pt")
    for site in ("site-1", "site-2"):
        auc = baseline.evaluate(weights, load_site(CRC, f"{site}.csv", f"{site}_test.csv"))["auc"]
        assert auc > 0.8, f"{site}: federated AUC {auc:.3f} under site-1's top-25% policy"
    assert nvflare_processes(str(tmp_path)) == []
