"""FLJob -> NVFlare job folder, built with NVFlare's own Recipe API (no federation needed)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from flarekube.api import parse_document
from flarekube.api.job import FLJob, SiteFiles
from flarekube.builders.jobfolder import JobFolderError, SiteInputs, build_job_folder, train_args, validate_job_folder


def _job(**workload: object) -> FLJob:
    doc = {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLJob",
        "metadata": {"name": "tab"},
        "spec": {
            "projectRef": "p",
            "workload": {"kind": "clinical-tabular", "localEpochs": 3, "learningRate": 0.01, **workload},
            "rounds": 4,
            "minSites": 2,
            "seed": 7,
        },
    }
    job = parse_document(doc)
    assert isinstance(job, FLJob)
    return job


def test_train_args_carry_the_spec_and_the_sites_own_files() -> None:
    args = shlex.split(
        train_args(_job(params={"maxBatches": 5, "useAmp": True}), SiteInputs("/data", SiteFiles(train="a b.csv")))
    )
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs == {
        "--data-dir": "/data", "--local-epochs": "3", "--lr": "0.01", "--batch-size": "32", "--seed": "7",
        "--train-file": "a b.csv", "--max-batches": "5", "--use-amp": "true", "--algorithm": "fedavg",
    }  # fmt: skip


def test_builds_a_per_site_fedavg_job(tmp_path: Path) -> None:
    sites = {"site-1": SiteInputs("/d1", SiteFiles()), "site-2": SiteInputs("/d2", SiteFiles(test="t.csv"))}
    folder = build_job_folder(_job(), tmp_path, sites)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["name"] == "tab" and meta["min_clients"] == 2
    deployed = {site for targets in meta["deploy_map"].values() for site in targets}
    assert {"server", "site-1", "site-2"} <= deployed
    configs = {p.parent.parent.name: p.read_text() for p in folder.glob("*/config/config_fed_client.json")}
    site2 = next(text for text in configs.values() if "/d2" in text)
    assert "t.csv" in site2 and "/d1" not in site2
    server = next(folder.glob("*/config/config_fed_server.json")).read_text()
    assert '"num_rounds": 4' in server


def test_a_user_folder_without_meta_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(JobFolderError, match=r"spec.workload.jobFolder.path: .* has no meta.json"):
        validate_job_folder(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(JobFolderError, match=r"meta.json cannot be read"):
        validate_job_folder(tmp_path)


def test_built_in_jobs_carry_no_code_and_run_the_installed_client(tmp_path: Path) -> None:
    """Issue 10: no custom/ anywhere (NVFlare would count it as custom code, refused by `customCode: deny`);
    each site resolves the installed module, so no path of the machine that built the job is in it."""
    sites = {"site-1": SiteInputs("/data", SiteFiles()), "site-2": SiteInputs("/data", SiteFiles())}
    folder = build_job_folder(_job(), tmp_path, sites)
    assert not list(folder.rglob("custom")), "a built-in job must not carry code"
    assert not [p for p in folder.rglob("*") if p.suffix == ".py"]
    for config in folder.glob("*/config/config_fed_client.json"):
        executor = json.loads(config.read_text())["executors"][0]["executor"]
        assert executor["path"] == "flarekube_workloads.executors.ModuleClientAPIExecutor"
        assert executor["args"]["task_module"] == "flarekube_workloads.tabular.client"
        assert executor["args"]["params_transfer_type"] == "DIFF"  # what privacy filters are meant for
        assert str(tmp_path) not in config.read_text() and "/tmp/" not in config.read_text()
    server = json.loads((folder / "app_server" / "config" / "config_fed_server.json").read_text())
    assert server["task_result_filters"] == [
        {"tasks": ["train"], "filters": [{"path": "flarekube_workloads.audit.ResultAudit"}]}]


def test_the_module_executor_resolves_the_installed_client() -> None:
    from flarekube_workloads.executors import ModuleClientAPIExecutor, module_path

    path = module_path("flarekube_workloads.tabular.client")
    assert path.endswith("flarekube_workloads/tabular/client.py") and Path(path).is_file()
    with pytest.raises(ValueError, match="not installed"):
        module_path("flarekube_workloads.nope")
    assert ModuleClientAPIExecutor("flarekube_workloads.tabular.client", "--x 1").task_module.endswith("client")
