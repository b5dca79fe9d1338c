"""`flarekube run` end to end: real provisioning, real NVFlare server and clients, real mTLS."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
import torch
from flarekube_workloads.tabular import baseline
from flarekube_workloads.tabular.data import load_site

from tests.support.federation import CRC, job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}


def test_tabular_federation_learns_on_every_site(run_flarekube, tmp_path: Path) -> None:
    result = run_flarekube(project_doc("fedtest", 3), job_doc("tab", "fedtest", 2, 3, TABULAR))
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED"
    assert summary["sites"] == ["site-1", "site-2", "site-3"]

    # every site reported both rounds; round 1's AUC is the untrained initial model's
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    auc = {(r["site"], int(r["round"])): float(r["value"]) for r in rows if r["metric"] == "val_auc"}
    assert set(auc) == {(f"site-{i}", r) for i in (1, 2, 3) for r in (1, 2)}

    # the downloaded global model is not the initial one: it is far better than chance on every site
    weights = baseline.load_state_dict(out / "global_model.pt")
    for site in ("site-1", "site-2", "site-3"):
        data = load_site(CRC, f"{site}.csv", f"{site}_test.csv")
        final = baseline.evaluate(weights, data)["auc"]
        assert final > 0.8, f"{site}: federated AUC {final:.3f}"
        assert final > auc[(site, 1)] + 0.05, f"{site}: global model did not move from the initial model"
        assert summary["per_site"][site]["federated_auc"] == pytest.approx(final, abs=1e-6)
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert (out / "plot.png").stat().st_size > 10_000
    assert nvflare_processes(str(tmp_path)) == []

    # the kits live in a 0700 workspace and were not re-issued by a second provisioning
    kits = tmp_path / "state" / "flarekube" / "fedtest" / "kits"
    assert kits.stat().st_mode & 0o777 == 0o700


def test_missing_data_path_fails_fast_and_names_the_site(run_flarekube, tmp_path: Path) -> None:
    project = project_doc("baddata", 3)
    project["spec"]["sites"][1]["data"]["localPath"] = str(tmp_path / "nowhere")
    started = time.monotonic()
    result = run_flarekube(project, job_doc("tab", "baddata", 1, 3, TABULAR))
    assert result.returncode != 0
    assert "site site-2" in result.stderr and "nowhere" in result.stderr, result.stderr
    assert time.monotonic() - started < 30  # nothing was started, so nothing had to be waited for
    assert nvflare_processes(str(tmp_path)) == []
    assert not (tmp_path / "state" / "flarekube" / "baddata" / "run").exists()


def test_site_that_does_not_connect_is_named_with_its_log(run_flarekube, tmp_path: Path) -> None:
    """A site whose kit dials the wrong address never registers: it is named, with its log's last lines."""
    project, job = project_doc("slow", 2), job_doc("tab", "slow", 1, 2, TABULAR)
    issued = run_flarekube(project, job, command="kits")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    kit = tmp_path / "state" / "flarekube" / "slow" / "kits" / "kits" / "site-2" / "startup.fed_client.json"
    config = json.loads(kit.read_text())
    # a host nobody answers for (the kit's host is identity and kept; its port is re-rendered from the spec)
    config["servers"][0]["service"]["target"] = "nowhere.invalid:9"
    kit.write_text(json.dumps(config))

    result = run_flarekube(project, job, args=("--connect-timeout", "15"))
    assert result.returncode == 1
    assert "site(s) site-2 did not connect to the server within 15s" in result.stderr, result.stderr
    assert "--- last lines of" in result.stderr and "site-2.log" in result.stderr
    assert nvflare_processes(str(tmp_path)) == []
