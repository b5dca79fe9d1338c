"""Every algorithm on the chest-xray-cnn workload: 2 rounds of a real `flarekube run` each, on tiny
ChestMNIST-layout files made here (28 px, 48 training images, 2 batches a round), one provisioned project."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube_workloads.xray.synthetic import write_site

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

ALGORITHMS: dict[str, dict[str, Any]] = {
    "fedavg": {"name": "fedavg"},
    "fedprox": {"name": "fedprox", "mu": 0.1},
    "fedopt": {"name": "fedopt", "serverOptimizer": "adam"},
    "scaffold": {"name": "scaffold"},
    "ditto": {"name": "ditto", "lambda": 0.1, "personalEpochs": 1},
}
WORKLOAD = {"kind": "chest-xray-cnn", "batchSize": 24, "learningRate": 0.003,
            "params": {"layout": "npz", "imageSize": 28, "maxBatches": 2, "cpuThreads": 1}}  # fmt: skip
SITES = ("site-1", "site-2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("xray-algorithms")
    project = project_doc("xrayalgos", len(SITES))
    for i, site in enumerate(project["spec"]["sites"], start=1):
        write_site(root / "data" / f"site-{i}", seed=i, n_train=48, n_eval=32)
        site["data"]["localPath"] = str(root / "data" / f"site-{i}")
    env = {**os.environ, "COLUMNS": "120", "XDG_STATE_HOME": str(root / "state")}
    outs: dict[str, Path] = {}
    for label, algorithm in ALGORITHMS.items():
        job = job_doc(f"cnn-{label}", "xrayalgos", 2, len(SITES), WORKLOAD)
        job["spec"].update(algorithm=algorithm, seed=3)
        spec = root / f"{label}.yaml"
        spec.write_text(yaml.safe_dump_all([project, job]))
        out = root / label
        result = subprocess.run([sys.executable, "-m", "flarekube", "run", str(spec), "--out", str(out)],
                                capture_output=True, text=True, timeout=400, cwd=root, env=env)  # fmt: skip
        assert result.returncode == 0, f"{label}:\n{result.stdout}\n{result.stderr}"
        outs[label] = out
    assert nvflare_processes(str(root)) == []
    return outs


@pytest.mark.parametrize("label", sorted(ALGORITHMS))
def test_every_algorithm_runs_two_rounds_of_the_cnn(runs: dict[str, Path], label: str) -> None:
    out = runs[label]
    assert json.loads((out / "summary.json").read_text())["status"] == "FINISHED:COMPLETED"
    assert (out / "global_model.pt").is_file()
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    metrics = {(r["site"], int(r["round"]), r["metric"]): r["value"] for r in rows}
    for site in SITES:
        for round_num in (1, 2):
            assert metrics[(site, round_num, "val_auc")], (label, site, round_num)
            assert float(metrics[(site, round_num, "local_global_distance")]) > 0, (label, site, round_num)
    if label == "scaffold":
        assert all(float(metrics[(s, 1, "scaffold_c_local_norm")]) > 0 for s in SITES)
        assert all(float(metrics[(s, 2, "scaffold_c_global_norm")]) > 0 for s in SITES)
    if label == "ditto":
        assert all((out / "personalized" / f"{s}.pt").is_file() for s in SITES)
        assert all(float(metrics[(s, 2, "personal_global_distance")]) > 0 for s in SITES)
