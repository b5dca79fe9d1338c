"""spec.faultTolerance reaches the exported NVFlare job: the fault-tolerant FedAvg with its arguments."""

from __future__ import annotations

import json
from pathlib import Path

from flarekube.api import FLJob, parse_document
from flarekube.api.job import SiteFiles
from flarekube.builders.jobfolder import TOLERANT_FEDAVG, SiteInputs, build_job_folder


def job(**ft: int) -> FLJob:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": "j"},
           "spec": {"projectRef": "crc", "workload": {"kind": "clinical-tabular"}, "rounds": 3, "minSites": 3,
                    "faultTolerance": ft}}  # fmt: skip
    parsed = parse_document(doc)
    assert isinstance(parsed, FLJob)
    return parsed


def controller(folder: Path) -> dict:
    config = json.loads((folder / "app_server" / "config" / "config_fed_server.json").read_text())
    return config["workflows"][0]


def inputs() -> dict[str, SiteInputs]:
    return {f"site-{i}": SiteInputs("/data", SiteFiles(train=f"site-{i}.csv")) for i in (1, 2, 3)}


def test_fault_tolerance_args_in_the_job_folder(tmp_path: Path) -> None:
    wf = controller(build_job_folder(job(minResponses=2, roundTimeoutSeconds=30), tmp_path, inputs(),
                                     linger_seconds=9))  # fmt: skip
    assert wf["path"] == TOLERANT_FEDAVG == "flarekube_workloads.controllers.FaultTolerantFedAvg"
    assert wf["args"]["min_responses"] == 2 and wf["args"]["round_timeout"] == 30 and wf["args"]["linger"] == 9
    # Issue 10: the controller runs from the installed package; a job carrying it would be custom code.
    assert not (tmp_path / "j" / "app_server" / "custom").exists()
    assert wf["args"]["num_rounds"] == 3


def test_default_waits_for_every_site(tmp_path: Path) -> None:
    wf = controller(build_job_folder(job(), tmp_path, inputs()))
    assert wf["args"]["min_responses"] == 0 and wf["args"]["round_timeout"] == 0


def test_the_controller_class_is_importable_where_nvflare_runs() -> None:
    from flarekube_workloads.controllers import FaultTolerantFedAvg

    ctl = FaultTolerantFedAvg(num_clients=3, num_rounds=2, min_responses=2, round_timeout=5, linger=9)
    assert ctl.min_responses == 2 and ctl.round_timeout == 5 and ctl.linger == 9


def test_the_operator_builds_the_folder_in_a_child_process(tmp_path: Path) -> None:
    import sys

    from flarekube.controller.job import LINGER_SECONDS, build_apart

    before = "torch" in sys.modules
    folder = build_apart(job(minResponses=2), tmp_path, inputs())
    assert controller(folder)["args"]["linger"] == LINGER_SECONDS
    assert ("torch" in sys.modules) == before  # the recipe's torch import stayed in the child
