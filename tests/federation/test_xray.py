"""The chest X-ray CNN workload through `flarekube run`, on ChestMNIST-layout files made here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from flarekube_workloads.xray.synthetic import write_site

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare


def test_chest_xray_cnn_federation(run_flarekube, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = project_doc("xray", 2)
    for i, site in enumerate(project["spec"]["sites"], start=1):
        write_site(tmp_path / "data" / f"site-{i}", seed=i, n_train=128, n_eval=64)
        site["data"]["localPath"] = str(tmp_path / "data" / f"site-{i}")
    workload = {
        "kind": "chest-xray-cnn",
        "batchSize": 32,
        "learningRate": 0.003,
        "params": {"layout": "npz", "imageSize": 28, "maxBatches": 4},
    }
    result = run_flarekube(project, job_doc("cnn", "xray", 2, 2, workload))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED"
    rows = list(csv.DictReader((tmp_path / "out" / "metrics.csv").open()))
    aucs = {(r["site"], r["round"]) for r in rows if r["metric"] == "val_auc" and r["value"]}
    assert aucs == {("site-1", "1"), ("site-1", "2"), ("site-2", "1"), ("site-2", "2")}
    assert (tmp_path / "out" / "global_model.pt").is_file()
    assert nvflare_processes(str(tmp_path)) == []
