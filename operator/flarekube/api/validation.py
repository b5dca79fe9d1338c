"""Every rule that is not a field constraint, in one place: the CLI, the operator and the tests call these.

Field constraints (types, ranges, patterns, CEL) live on the models themselves. What is here needs more
than one field or document, or a fact outside the document:
- `cross_check`: an FLJob against its FLProject;
- `cluster_project_problems` / `cluster_job_problems`: valid for `flarekube run`, impossible on a cluster;
- `job_folder_problems`: the minimal shape of an NVFlare job folder a user brings;
- `local_data_problems`: the data each site needs for `flarekube run` (read-only filesystem checks).
Each returns a list of `field: problem` lines (empty: fine); callers decide how to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flarekube.api.job import FLJob, SiteFiles
from flarekube.api.project import FLProject

Scalar = str | int | float | bool


def cross_check(project: FLProject, job: FLJob) -> list[str]:
    """Rules that span two documents (the operator checks them at reconcile time, the CLI up front)."""
    problems: list[str] = []
    names = [s.name for s in project.spec.sites]
    if job.spec.project_ref != project.metadata.name:
        problems.append(
            f'spec.projectRef: "{job.spec.project_ref}" does not name the FLProject "{project.metadata.name}"'
        )
    chosen = job.spec.sites if job.spec.sites is not None else names
    for i, site in enumerate(job.spec.sites or []):
        if site not in names:
            problems.append(f'spec.sites[{i}]: "{site}" is not a site of FLProject "{project.metadata.name}"')
    if job.spec.min_sites > len(chosen):
        problems.append(f"spec.minSites: {job.spec.min_sites} is more than the {len(chosen)} sites available")
    for site in job.spec.data:
        if site not in chosen:
            problems.append(f'spec.data.{site}: "{site}" is not a site of this job')
    reason = UNFILTERED_STATE.get(job.spec.algorithm.name)
    for site in chosen:
        if reason and site in names and project.site(site).policy.privacy.has_filters:
            problems.append(f'spec.algorithm.name: "{job.spec.algorithm.name}" cannot run on site "{site}": '
                            f"its policy applies privacy filters, and {reason}")  # fmt: skip
    return problems


# Algorithms whose results carry model state that a site's privacy filters never see, by name: the rule is
# here so a site's privacy cannot be bypassed (the CLI checks it up front, the operator at reconcile time; the
# API server sees one document at a time and cannot).
UNFILTERED_STATE = {
    "scaffold": "SCAFFOLD's control variates travel in the result's metadata, which no privacy filter touches",
}


def cluster_project_problems(project: FLProject) -> list[str]:
    """What is valid for `flarekube run` but cannot work on a cluster."""
    problems = []
    if project.spec.job_runtime == "pod":
        problems.append(
            'spec.jobRuntime: "pod" (NVFlare\'s Kubernetes job launcher) is not supported by this operator '
            'version; use "process" (jobs run inside each site pod)'
        )
    for i, s in enumerate(project.spec.sites):
        if s.data is not None and s.data.local_path is not None:
            problems.append(f"spec.sites[{i}].data.localPath: works only with flarekube run; use hostPath or pvc")
    return problems


def cluster_job_problems(job: FLJob) -> list[str]:
    folder = job.spec.workload.job_folder
    if folder is not None and folder.path is not None:
        return ["spec.workload.jobFolder.path: a local path works only with flarekube run"]
    if folder is not None and folder.config_map is not None:
        # Not yet: unpacking a ConfigMap into a job folder (see the issue-5 report).
        return ["spec.workload.jobFolder.configMap: not supported by this operator version yet"]
    return []


def job_folder_problems(folder: Path) -> list[str]:
    """The minimal shape NVFlare needs; a clear error beats an opaque submit failure."""
    where = "spec.workload.jobFolder.path"
    meta_path = folder / "meta.json"
    if not folder.is_dir():
        return [f"{where}: {folder} is not a folder"]
    if not meta_path.is_file():
        return [f"{where}: {folder} has no meta.json (not an NVFlare job)"]
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        return [f"{where}: {meta_path} is not valid JSON: {err}"]
    if not isinstance(meta, dict) or "deploy_map" not in meta:
        return [f"{where}: {meta_path} has no deploy_map"]
    return []


# --- the data of `flarekube run` -------------------------------------------------------------------------


@dataclass(frozen=True)
class DataProblem:
    site: str
    message: str

    def __str__(self) -> str:
        return f"site {self.site}: {self.message}"


class DataRules(Protocol):
    """What a workload says about its data (the workload registry's rows satisfy this)."""

    @property
    def default_files(self) -> tuple[str, str] | None: ...  # train, test; "{site}" is the site's name

    @property
    def check_data(self) -> Callable[[Path, Mapping[str, Scalar]], list[str]] | None: ...


def site_files(job: FLJob, site: str, rules: DataRules | None) -> SiteFiles:
    """The files a site trains and tests on: the FLJob's spec.data, else the workload's defaults."""
    given = job.spec.data.get(site, SiteFiles())
    defaults = rules.default_files if rules is not None else None
    if defaults is None:
        return given
    return SiteFiles(train=given.train or defaults[0].replace("{site}", site),
                     test=given.test or defaults[1].replace("{site}", site))  # fmt: skip


def local_data_folder(project: FLProject, site: str, base_dir: Path) -> Path | None:
    source = project.site(site).data
    if source is None or source.local_path is None:
        return None
    return (base_dir / source.local_path).resolve()


def local_data_problems(
    project: FLProject, job: FLJob, sites: list[str], base_dir: Path, rules: DataRules | None
) -> list[DataProblem]:
    """Every site's data for `flarekube run`, checked before anything starts; each problem names the site.

    `rules` is None for a user's job folder: its data is its own business, only a declared folder is checked."""
    problems: list[DataProblem] = []
    for name in sites:
        source = project.site(name).data
        if source is None:
            if rules is not None:
                problems.append(DataProblem(name, "has no data source (spec.sites[].data.localPath)"))
            continue
        folder = local_data_folder(project, name, base_dir)
        if folder is None:
            problems.append(
                DataProblem(name, "flarekube run needs spec.sites[].data.localPath (hostPath/pvc are cluster-only)")
            )
            continue
        if not folder.is_dir():
            problems.append(DataProblem(name, f"data folder {folder} does not exist"))
            continue
        if rules is None:
            continue
        if rules.default_files is not None:
            files = site_files(job, name, rules)
            for label, file in (("train", files.train), ("test", files.test)):
                path = folder / str(file)
                if not path.is_file():
                    problems.append(DataProblem(name, f"{label} file {path} does not exist"))
        if rules.check_data is not None:
            problems += [DataProblem(name, p) for p in rules.check_data(folder, job.spec.workload.params)]
    return problems


def xray_layout_problems(folder: Path, params: Mapping[str, Scalar]) -> list[str]:
    """The chest X-ray workload reads the MedMNIST npz layout or an NIH ChestX-ray14 folder."""
    layout = str(params.get("layout", "npz"))
    if layout == "nih" and not (folder / "Data_Entry_2017.csv").is_file():
        return [f"{folder} has no Data_Entry_2017.csv (NIH ChestX-ray14 layout)"]
    if layout == "npz" and not any(folder.glob("*.npz")):
        return [f"{folder} has no .npz file (MedMNIST ChestMNIST layout)"]
    return []
