"""FLJob spec -> an NVFlare job folder, with NVFlare's own Recipe API.

The same folder is submitted by `flarekube run` and by the operator. Site-local facts (where each
site's data is mounted) come in as `data_dirs`; everything else comes from the spec. A user's own
job folder (workload kind `jobFolder`) is copied unchanged.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flarekube_workloads.contract import MODULE_EXECUTOR, STATS_GROUP

from flarekube.api.job import FLJob, SiteFiles
from flarekube.builders.algorithms import algorithm_args, make_recipe, split_client_app
from flarekube.builders.jobcheck import JobFolderError, read_job_folder
from flarekube.builders.tuning import FLAREKUBE_TIMING, FlareTiming, tune_job_folder
from flarekube.builders.workloads import Workload, workload

CLIENT_SCRIPT_NAME = "flarekube_client.py"


__all__ = ["JobFolderError", "SiteInputs", "build_job_folder", "job_sites", "train_args", "validate_job_folder"]


@dataclass(frozen=True)
class SiteInputs:
    """What one site's training script is told: where its data is, which files to use."""

    data_dir: str
    files: SiteFiles


def train_args(job: FLJob, site: SiteInputs) -> str:
    """The command line each site's script gets (NVFlare writes it into the job config)."""
    w = job.spec.workload
    args = [
        "--data-dir", site.data_dir,
        "--local-epochs", str(w.local_epochs),
        "--lr", repr(w.learning_rate),
        "--batch-size", str(w.batch_size),
        "--seed", str(job.spec.seed),
        *algorithm_args(job.spec.algorithm),
    ]  # fmt: skip
    if site.files.train:
        args += ["--train-file", site.files.train]
    if site.files.test:
        args += ["--test-file", site.files.test]
    for key, value in sorted(w.params.items()):
        flag = "--" + "".join("-" + c.lower() if c.isupper() else c for c in key)
        args += [flag, str(value).lower() if isinstance(value, bool) else str(value)]
    return shlex.join(args)


def job_sites(job: FLJob, project_sites: list[str]) -> list[str]:
    return list(job.spec.sites) if job.spec.sites is not None else list(project_sites)


def build_job_folder(job: FLJob, dest: Path, sites: Mapping[str, SiteInputs], *, linger_seconds: int = 0,
                     input_width: int | None = None, user_folder: Path | None = None,
                     timing: FlareTiming = FLAREKUBE_TIMING) -> Path:  # fmt: skip
    """Write the NVFlare job for `job` under `dest`; returns the folder to submit.

    user_folder: where a jobFolder job's folder is on this machine (its spec path resolved against the
    YAML's folder, or a ConfigMap unpacked by the operator); default: the spec's path as given.
    linger_seconds: how long the server's controller stays up after the last round (the operator polls
    progress and needs to see the final round; `flarekube run` reads site metrics and passes 0).
    input_width: the model input width observed in the data, when the caller can see the data.
    timing: NVFlare's poll intervals (builders/tuning.py); NVFLARE_DEFAULTS gives NVFlare's own."""
    row = workload(job.spec.workload.kind)
    if row is None:
        return copy_user_job_folder(job, dest, user_folder)
    # The recipe insists on a script file to copy into custom/; a placeholder is exported and then
    # replaced by the installed module (use_installed_client), so the job carries no code at all.
    staging = Path(tempfile.mkdtemp(prefix="flarekube-script-"))
    script = staging / CLIENT_SCRIPT_NAME
    script.write_text("# replaced by the installed module\n")
    site_args = {name: train_args(job, inputs) for name, inputs in sites.items()}
    recipe = make_recipe(job, row.model(job, input_width), str(script), row.key_metric, site_args)
    dest.mkdir(parents=True, exist_ok=True)
    recipe.export(str(dest))
    folder = dest / job.metadata.name
    if not (folder / "meta.json").is_file():
        raise JobFolderError(f"NVFlare did not write {folder}/meta.json")
    split_client_app(folder, site_args)
    apply_fault_tolerance(folder, job, linger_seconds)
    use_installed_client(folder, row)
    tune_job_folder(folder, timing)  # last: after every step that names the workflow and the executor
    shutil.rmtree(staging, ignore_errors=True)
    return folder


CLIENT_API_EXECUTOR = "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor"
RESULT_AUDIT = "flarekube_workloads.audit.ResultAudit"


def use_installed_client(folder: Path, row: Workload) -> None:
    """Each site runs the workload's client from its installed flarekube_workloads: no custom/ folder,
    so NVFlare does not count the job as custom code and a site with `customCode: deny` runs it."""
    for config in folder.glob("*/config/config_fed_client.json"):
        data = json.loads(config.read_text())
        for entry in data.get("executors", []):
            executor = entry.get("executor", {})
            if executor.get("path") == CLIENT_API_EXECUTOR:
                args = executor.setdefault("args", {})
                args.pop("task_script_path", None)
                args.pop("execution_mode", None)
                args["task_module"] = row.client_module
                executor["path"] = MODULE_EXECUTOR
        config.write_text(json.dumps(data, indent=4))
    for custom in folder.glob("*/custom"):
        shutil.rmtree(custom)


FEDAVG = "nvflare.app_common.workflows.fedavg.FedAvg"
# Run from the installed flarekube_workloads (runtime image, venv), like the clients: a job that
# carried it in app_server/custom/ would be custom code to NVFlare.
TOLERANT_FEDAVG = "flarekube_workloads.controllers.FaultTolerantFedAvg"


def apply_fault_tolerance(folder: Path, job: FLJob, linger_seconds: int = 0) -> None:
    """Swap the recipe's FedAvg for its fault-tolerant subclass (same arguments plus spec.faultTolerance).

    Done on the exported config rather than through the recipe: the recipe has no knob for a round's
    minimum responses, and the subclass also reports round progress to the operator (show_stats).
    """
    config = folder / "app_server" / "config" / "config_fed_server.json"
    if not config.is_file():
        raise JobFolderError(f"NVFlare did not write {config}")
    data = json.loads(config.read_text())
    ft = job.spec.fault_tolerance
    for workflow in data.get("workflows", []):
        if workflow.get("path") == FEDAVG:
            workflow["path"] = TOLERANT_FEDAVG
            workflow.setdefault("args", {}).update(
                {"min_responses": ft.min_responses or 0, "round_timeout": ft.round_timeout_seconds,
                 "linger": linger_seconds, "stats_group": STATS_GROUP}
            )
    # What each site's result looks like when it reaches the server (after the site's own filters).
    data.setdefault("task_result_filters", []).append({"tasks": ["train"], "filters": [{"path": RESULT_AUDIT}]})
    config.write_text(json.dumps(data, indent=4))


def copy_user_job_folder(job: FLJob, dest: Path, folder: Path | None = None) -> Path:
    """A run copy of the user's folder (the user's own is never written) with flarekube's RoundProgress on
    the server, so any NVFlare workflow's rounds and tracked metrics reach show_stats."""
    source = job.spec.workload.job_folder
    if folder is None:
        assert source is not None and source.path is not None, "a ConfigMap job folder is unpacked first"
        folder = Path(source.path)
    validate_job_folder(folder)
    target = dest / folder.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)
    add_round_progress(target)
    return target


ROUND_PROGRESS = "flarekube_workloads.progress.RoundProgress"
ROUND_PROGRESS_ID = "flarekube_round_progress"


def add_round_progress(folder: Path) -> None:
    """Add RoundProgress to each server app's config (JSON; a HOCON config is left as the user wrote it:
    its rounds then come from ScatterAndGather's own stats, or not at all)."""
    parsed, _ = read_job_folder(folder)
    for app in parsed.apps_of("server") if parsed is not None else ():
        config = app.folder / "config" / "config_fed_server.json"
        if not config.is_file():
            config = app.folder / "config_fed_server.json"
        if not config.is_file():
            continue
        data = json.loads(config.read_text())
        comps = data.setdefault("components", [])
        if not any(c.get("id") == ROUND_PROGRESS_ID for c in comps if isinstance(c, dict)):
            comps.append({"id": ROUND_PROGRESS_ID, "path": ROUND_PROGRESS, "args": {"stats_group": STATS_GROUP}})
        config.write_text(json.dumps(data, indent=4))


def validate_job_folder(folder: Path) -> None:
    """The folder's shape (builders.jobcheck), raised as the builder's error."""
    _, problems = read_job_folder(folder)
    if problems:
        raise JobFolderError("; ".join(map(str, problems)))
