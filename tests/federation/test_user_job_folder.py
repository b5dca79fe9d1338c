"""A user's own NVFlare job folder, written by NVFlare's FedJob.export_job, runs unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.federation import job_doc, nvflare_processes, project_doc
from tests.support.userjobs import JOBLIB_PERSISTOR, byo_project, export_sklearn_job

pytestmark = pytest.mark.nvflare

# A user's Client API script with no flarekube import at all: a numpy "model" each site nudges.
CLIENT_SCRIPT = """
import numpy as np
import nvflare.client as flare
from nvflare.app_common.abstract.fl_model import FLModel

flare.init()
site = flare.get_site_name()
while flare.is_running():
    model = flare.receive()
    w = np.asarray(model.params["w"], dtype=np.float32)
    target = np.full_like(w, 1.0)
    w = w + 0.5 * (target - w)
    flare.send(FLModel(params={"w": w}, metrics={"distance": float(np.abs(target - w).mean())},
                       meta={"NUM_STEPS_CURRENT_ROUND": 1}))
"""


def export_user_job(root: Path, rounds: int, sites: int) -> Path:
    from nvflare.app_common.workflows.fedavg import FedAvg
    from nvflare.job_config.api import FedJob
    from nvflare.job_config.script_runner import ScriptRunner

    script = root / "user_train.py"
    script.write_text(CLIENT_SCRIPT)
    job = FedJob(name="user-job", min_clients=sites)
    job.to_server(
        FedAvg(
            num_clients=sites, num_rounds=rounds, model={"w": [0.0] * 4}, save_filename="FL_global_model.pt"
        )
    )
    job.to_clients(ScriptRunner(script=str(script), script_args=""))
    job.export_job(str(root / "exported"))
    return root / "exported" / "user-job"


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def test_exported_fedjob_runs_unchanged(run_flarekube, tmp_path: Path) -> None:
    folder = export_user_job(tmp_path, rounds=2, sites=2)
    before = _digest(folder)
    assert json.loads((folder / "meta.json").read_text())["name"] == "user-job"

    project = project_doc("userjob", 2)
    for site in project["spec"]["sites"]:
        del site["data"]  # the user's script brings its own data handling
        site["policy"] = {"customCode": "allow"}  # issue 10: a job folder with custom/ is custom code
    job = job_doc("user-job", "userjob", 2, 2, {"kind": "jobFolder", "jobFolder": {"path": str(folder)}})
    result = run_flarekube(project, job)

    assert result.returncode == 0, result.stdout + result.stderr
    assert _digest(folder) == before, "flarekube must not modify the user's job folder"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED"
    assert (tmp_path / "out" / "global_model.pt").is_file()
    assert nvflare_processes(str(tmp_path)) == []


def test_a_sklearn_job_runs_ten_rounds_once_the_server_allows_its_persistor(run_flarekube, tmp_path: Path) -> None:
    """Issue 11: NVFlare's own sklearn job (FedAvg + joblib persistor, no custom/): the persistor is outside
    NVFlare's default allow-list, so the project's spec.server.allowComponents names it; the run then shows
    the server's rounds, the sites' tracked accuracy, and leaves the joblib model and every log in --out."""
    import joblib

    export_sklearn_job(tmp_path / "job", rounds=10, sites=2)
    project = byo_project("skjob", 2, server_allow=[JOBLIB_PERSISTOR])
    # relative to the YAML's folder (run_flarekube writes tmp_path/bundle.yaml)
    job = job_doc("sk-job", "skjob", 10, 2, {"kind": "jobFolder", "jobFolder": {"path": "job/exported/sk-job"}})
    result = run_flarekube(project, job)

    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED"
    assert "10/10" in result.stdout
    assert summary["rounds_reported"] >= 5, "the server's own progress must move, not only jump at the end"
    assert set(summary["tracked_metrics"]) == {"site-1", "site-2"}
    assert all(0.5 < m["accuracy"] <= 1.0 for m in summary["tracked_metrics"].values())
    model = joblib.load(out / "model_param.joblib")
    assert set(model) >= {"coef", "intercept"}
    assert {p.name for p in (out / "logs").iterdir()} == {"server.log", "site-1.log", "site-2.log"}
    listed = result.stdout.split(f"-> {out}/ (")[1].split(")")[0].split(", ")
    assert "model_param.joblib" in listed and all((out / name).exists() for name in listed)
    assert "global_model.pt" not in listed
    assert nvflare_processes(str(tmp_path)) == []


def test_a_job_that_fails_prints_the_first_errors_of_its_logs(run_flarekube, tmp_path: Path) -> None:
    """Issue 11: not only EXECUTION_EXCEPTION and a folder: the cause, from the logs of that job."""
    folder = export_user_job(tmp_path, rounds=1, sites=2)
    # A server component of the job's own code that cannot start (NVFlare carries on past a failing client
    # script, so the server is where a job reliably fails).
    (folder / "app" / "custom" / "boom.py").write_text(
        "from nvflare.apis.fl_component import FLComponent\n\n\nclass Boom(FLComponent):\n"
        "    def __init__(self):\n        raise ValueError('the site data is broken: column age missing')\n"
    )
    config = folder / "app" / "config" / "config_fed_server.json"
    data = json.loads(config.read_text())
    data["components"].append({"id": "boom", "path": "boom.Boom", "args": {}})
    config.write_text(json.dumps(data, indent=4))
    project = project_doc("userjob", 2)
    for site in project["spec"]["sites"]:
        del site["data"]
        site["policy"] = {"customCode": "allow"}
    job = job_doc("user-job", "userjob", 1, 2, {"kind": "jobFolder", "jobFolder": {"path": str(folder)}})
    job["spec"]["timeoutSeconds"] = 120
    result = run_flarekube(project, job)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "first errors in the job's logs:" in result.stderr, result.stderr
    assert "column age missing" in result.stderr.split("first errors in the job's logs:")[1]
    assert (tmp_path / "out" / "logs").is_dir()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["first_errors"] and summary["status"] != "FINISHED:COMPLETED"
    assert nvflare_processes(str(tmp_path)) == []
