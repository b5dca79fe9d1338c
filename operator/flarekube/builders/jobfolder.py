"""FLJob spec -> an NVFlare job folder, with NVFlare's own Recipe API.

The same folder is submitted by `flarekube run` and by the operator. Site-local facts (where each
site's data is mounted) come in as `data_dirs`; everything else comes from the spec. A user's own
job folder (workload kind `jobFolder`) is copied unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flarekube_workloads.contract import STATS_GROUP

from flarekube.api.job import FLJob, SiteFiles
from flarekube.api.validation import job_folder_problems
from flarekube.builders.workloads import Workload, workload

CLIENT_SCRIPT_NAME = "flarekube_client.py"


class JobFolderError(ValueError):
    """The job folder cannot be built or is not an NVFlare job folder."""


@dataclass(frozen=True)
class SiteInputs:
    """What one site's training script is told: where its data is, which files to use."""

    data_dir: str
    files: SiteFiles


def client_script(row: Workload) -> Path:
    spec = importlib.util.find_spec(row.client_module)
    if spec is None or spec.origin is None:
        raise JobFolderError(f"workload {row.kind!r}: module {row.client_module} is not installed")
    return Path(spec.origin)


def train_args(job: FLJob, site: SiteInputs) -> str:
    """The command line each site's script gets (NVFlare writes it into the job config)."""
    w = job.spec.workload
    args = [
        "--data-dir", site.data_dir,
        "--local-epochs", str(w.local_epochs),
        "--lr", repr(w.learning_rate),
        "--batch-size", str(w.batch_size),
        "--seed", str(job.spec.seed),
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
                     input_width: int | None = None) -> Path:  # fmt: skip
    """Write the NVFlare job for `job` under `dest`; returns the folder to submit.

    linger_seconds: how long the server's controller stays up after the last round (the operator polls
    progress and needs to see the final round; `flarekube run` reads site metrics and passes 0).
    input_width: the model input width observed in the data, when the caller can see the data."""
    row = workload(job.spec.workload.kind)
    if row is None:
        return copy_user_job_folder(job, dest)
    # Imported here: the recipe pulls in torch, which the operator's reconcile path never needs.
    from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe

    # NVFlare names the script inside custom/ relative to the longest sys.path entry holding it, which
    # differs between a venv, an editable install and an image; a private copy is always custom/<name>.
    staging = Path(tempfile.mkdtemp(prefix="flarekube-script-"))
    script = Path(shutil.copy2(client_script(row), staging / CLIENT_SCRIPT_NAME))
    recipe = FedAvgRecipe(
        name=job.metadata.name,
        model=row.model(job, input_width),
        min_clients=job.spec.min_sites,
        num_rounds=job.spec.rounds,
        train_script=str(script),
        key_metric=row.key_metric,
        key_metric_mode="max",
    )
    recipe.set_per_site_config(
        {name: {"train_args": train_args(job, inputs)} for name, inputs in sites.items()}
    )
    dest.mkdir(parents=True, exist_ok=True)
    recipe.export(str(dest))
    folder = dest / job.metadata.name
    if not (folder / "meta.json").is_file():
        raise JobFolderError(f"NVFlare did not write {folder}/meta.json")
    apply_fault_tolerance(folder, job, linger_seconds)
    _relative_script_paths(folder, script)
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def _relative_script_paths(folder: Path, script: Path) -> None:
    """The recipe records the script's absolute path on the machine that built the job; the sites run
    the copy in the job's custom/ folder, so name it relative (a pod's install path differs)."""
    for config in folder.glob("*/config/config_fed_client.json"):
        text = config.read_text()
        config.write_text(text.replace(json.dumps(str(script)), json.dumps(script.name)))


FEDAVG = "nvflare.app_common.workflows.fedavg.FedAvg"
# Shipped inside the job (app_server/custom/) under its own module name: the job then runs on any
# NVFlare 2.9 server, whatever flarekube version (if any) its image has installed.
CONTROLLER_MODULE = "flarekube_fedavg"
TOLERANT_FEDAVG = f"{CONTROLLER_MODULE}.FaultTolerantFedAvg"


def apply_fault_tolerance(folder: Path, job: FLJob, linger_seconds: int = 0) -> None:
    """Swap the recipe's FedAvg for its fault-tolerant subclass (same arguments plus spec.faultTolerance).

    Done on the exported config rather than through the recipe: the recipe has no knob for a round's
    minimum responses, and the subclass also reports round progress to the operator (show_stats).
    """
    config = folder / "app_server" / "config" / "config_fed_server.json"
    if not config.is_file():
        raise JobFolderError(f"NVFlare did not write {config}")
    custom = folder / "app_server" / "custom"
    custom.mkdir(parents=True, exist_ok=True)
    source = importlib.util.find_spec("flarekube_workloads.controllers")
    if source is None or source.origin is None:
        raise JobFolderError("flarekube_workloads.controllers is not installed")
    shutil.copy2(source.origin, custom / f"{CONTROLLER_MODULE}.py")
    data = json.loads(config.read_text())
    ft = job.spec.fault_tolerance
    for workflow in data.get("workflows", []):
        if workflow.get("path") == FEDAVG:
            workflow["path"] = TOLERANT_FEDAVG
            workflow.setdefault("args", {}).update(
                {"min_responses": ft.min_responses or 0, "round_timeout": ft.round_timeout_seconds,
                 "linger": linger_seconds, "stats_group": STATS_GROUP}
            )
    config.write_text(json.dumps(data, indent=4))


def copy_user_job_folder(job: FLJob, dest: Path) -> Path:
    source = job.spec.workload.job_folder
    assert source is not None and source.path is not None, (
        "a ConfigMap job folder is unpacked by the operator"
    )
    src = Path(source.path)
    validate_job_folder(src)
    target = dest / src.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src, target)
    return target


def validate_job_folder(folder: Path) -> None:
    """api.validation's job-folder rules, raised as the builder's error."""
    problems = job_folder_problems(folder)
    if problems:
        raise JobFolderError("; ".join(problems))
