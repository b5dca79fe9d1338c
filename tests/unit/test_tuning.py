"""builders/tuning.py: the exact NVFlare keys and values flarekube writes, on every built algorithm, never on a
user's job folder; the executor that carries the Client API's poll interval (no federation needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from flarekube.api import parse_document
from flarekube.api.job import FLJob, SiteFiles
from flarekube.builders.jobfolder import SiteInputs, build_job_folder
from flarekube.builders.tuning import FLAREKUBE_TIMING, NVFLARE_DEFAULTS, FlareTiming, tune_job_folder
from flarekube_workloads.contract import MODULE_EXECUTOR

SITES = {s: SiteInputs(f"/data/{s}", SiteFiles()) for s in ("site-1", "site-2")}


def _job(algorithm: dict[str, Any], workload: dict[str, Any] | None = None) -> FLJob:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": "tuned"},
           "spec": {"projectRef": "p", "workload": workload or {"kind": "clinical-tabular"}, "rounds": 2,
                    "minSites": 2, "algorithm": algorithm}}  # fmt: skip
    job = parse_document(doc)
    assert isinstance(job, FLJob)
    return job


def _configs(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"*/config/{name}"))]


def _timing_of(folder: Path) -> dict[str, list[Any]]:
    """Every value of the four settings found in the folder's configs (one entry per occurrence)."""
    found: dict[str, list[Any]] = {"task_request_interval": [], "task_check_period": [],
                                   "default_task_fetch_interval": [], "result_poll_interval": []}  # fmt: skip
    for server in _configs(folder, "config_fed_server.json"):
        found["task_request_interval"].append(server.get("server", {}).get("task_request_interval"))
        for workflow in server.get("workflows", []):
            found["task_check_period"].append(workflow.get("args", {}).get("task_check_period"))
    for client in _configs(folder, "config_fed_client.json"):
        found["default_task_fetch_interval"].append(client.get("default_task_fetch_interval"))
        for entry in client["executors"]:
            assert entry["executor"]["path"] == MODULE_EXECUTOR
            found["result_poll_interval"].append(entry["executor"]["args"].get("result_poll_interval"))
    return found


@pytest.mark.parametrize("algorithm", [{"name": "fedavg"}, {"name": "fedprox", "mu": 0.01}, {"name": "fedopt"}])
def test_every_built_algorithm_carries_flarekubes_timing(tmp_path: Path, algorithm: dict[str, Any]) -> None:
    folder = build_job_folder(_job(algorithm), tmp_path, SITES)
    assert _timing_of(folder) == {
        "task_request_interval": [0.05],
        "task_check_period": [0.02],
        "default_task_fetch_interval": [0.05, 0.05],  # one app per site
        "result_poll_interval": [0.01, 0.01],
    }
    assert FlareTiming(0.05, 0.02, 0.05, 0.01) == FLAREKUBE_TIMING


def test_nvflare_defaults_write_nvflares_own_values(tmp_path: Path) -> None:
    folder = build_job_folder(_job({"name": "fedavg"}), tmp_path, SITES, timing=NVFLARE_DEFAULTS)
    assert _timing_of(folder) == {
        "task_request_interval": [2.0], "task_check_period": [0.5],
        "default_task_fetch_interval": [0.5, 0.5], "result_poll_interval": [0.5, 0.5],
    }  # fmt: skip


def test_the_rest_of_the_job_is_untouched(tmp_path: Path) -> None:
    """Tuning changes only its keys: the same job built with either timing differs in nothing else."""
    a = build_job_folder(_job({"name": "fedavg"}), tmp_path / "a", SITES)
    b = build_job_folder(_job({"name": "fedavg"}), tmp_path / "b", SITES, timing=NVFLARE_DEFAULTS)
    tune_job_folder(b, FLAREKUBE_TIMING)
    assert sorted(p.relative_to(a) for p in a.rglob("*")) == sorted(p.relative_to(b) for p in b.rglob("*"))
    for path in a.rglob("*.json"):
        assert json.loads(path.read_text()) == json.loads((b / path.relative_to(a)).read_text()), path


def test_a_workflow_that_takes_no_task_check_period_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "job" / "app_server" / "config" / "config_fed_server.json"
    config.parent.mkdir(parents=True)
    other = {"id": "x", "path": "my_org.MyController", "args": {"rounds": 3}}
    config.write_text(json.dumps({"format_version": 2, "workflows": [other]}))
    tune_job_folder(tmp_path / "job")
    data = json.loads(config.read_text())
    assert data["workflows"] == [other] and data["server"] == {"task_request_interval": 0.05}


def test_a_users_job_folder_is_copied_unchanged(tmp_path: Path) -> None:
    """A jobFolder job is the user's configuration: none of these settings is written into it (flarekube's
    copy only gains its RoundProgress component in the server config, issue 11)."""
    user = tmp_path / "user-job"
    src = build_job_folder(_job({"name": "fedavg"}), tmp_path / "built", SITES, timing=NVFLARE_DEFAULTS)
    shutil.copytree(src, user)
    (user / "app_server" / "config" / "config_fed_server.json").write_text(json.dumps({"format_version": 2}))
    job = _job({"name": "fedavg"}, {"kind": "jobFolder", "jobFolder": {"path": str(user)}})
    copied = build_job_folder(job, tmp_path / "out", {})
    server_config = Path("app_server") / "config" / "config_fed_server.json"
    for path in user.rglob("*"):
        if path.is_file() and path.relative_to(user) != server_config:
            assert (copied / path.relative_to(user)).read_bytes() == path.read_bytes(), path
    server = json.loads((copied / server_config).read_text())
    assert "server" not in server and "workflows" not in server, "no timing written into the user's config"
    assert [c["path"] for c in server["components"]] == ["flarekube_workloads.progress.RoundProgress"]


def test_the_executor_sets_the_in_process_poll_interval_before_the_trainer_starts() -> None:
    from flarekube_workloads.executors import ModuleClientAPIExecutor
    from nvflare.app_common.executors.client_api import in_process_backend

    before = in_process_backend._RESULT_POLL_INTERVAL
    try:
        executor = ModuleClientAPIExecutor("flarekube_workloads.tabular.client", result_poll_interval=0.01)
        backend = executor._create_in_process_backend()
        assert isinstance(backend, in_process_backend.InProcessBackend)
        assert in_process_backend._RESULT_POLL_INTERVAL == 0.01
        assert not executor._warm.is_alive()  # the warm-up finished before the backend (and its trainer) exist
    finally:
        in_process_backend._RESULT_POLL_INTERVAL = before


@pytest.mark.parametrize("bad", [0, -1.0])
def test_the_executor_refuses_a_poll_interval_that_is_not_positive(bad: float) -> None:
    from flarekube_workloads.executors import ModuleClientAPIExecutor

    with pytest.raises(ValueError, match="result_poll_interval must be > 0"):
        ModuleClientAPIExecutor("flarekube_workloads.tabular.client", result_poll_interval=bad)
