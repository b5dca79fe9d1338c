"""Every rule that is not a field constraint, in one place: the CLI, the operator and the tests call these.

Field constraints (types, ranges, patterns, CEL) live on the models themselves. What is here needs more
than one field or document, or a fact outside the document:
- `cross_check`: an FLJob against its FLProject;
- `cluster_project_problems` / `cluster_job_problems`: valid for `flarekube run`, impossible on a cluster;
- `local_data_problems`: the data each site needs for `flarekube run` (read-only filesystem checks).
A user's job folder is checked by `builders/jobcheck.py` (it reads NVFlare's config formats).
Each returns a list of `field: problem` lines (empty: fine); callers decide how to refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
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


def cluster_project_problems(project: FLProject, allowed_host_paths: Sequence[str] = ()) -> list[str]:
    """What is valid for `flarekube run` but cannot work on a cluster. `allowed_host_paths`: the node
    folders the operator's installer allows (chart value `allowedHostPaths`).

    Threat: a namespace user who may create FLProjects would otherwise mount any node folder (the
    kubelet's, another tenant's data) into a site pod; Pod Security `restricted` forbids hostPath, so
    hostPath is an installer's decision, never a tenant's."""
    problems = []
    if project.spec.job_runtime == "pod":
        problems.append(
            'spec.jobRuntime: "pod" (NVFlare\'s Kubernetes job launcher) is not supported by this operator '
            'version; use "process" (jobs run inside each site pod)'
        )
    for i, s in enumerate(project.spec.sites):
        if s.data is not None and s.data.local_path is not None:
            problems.append(f"spec.sites[{i}].data.localPath: works only with flarekube run; use pvc")
        if s.data is not None and s.data.host_path is not None:
            path = PurePosixPath(s.data.host_path.path)
            if not any(path == PurePosixPath(a) or PurePosixPath(a) in path.parents for a in allowed_host_paths):
                allowed = ", ".join(allowed_host_paths) or "none"
                problems.append(
                    f"spec.sites[{i}].data.hostPath.path: {str(path)[:200]} is not under a node folder this "
                    f"operator allows (allowedHostPaths: {allowed}); use a pvc, or ask the installer to add it"
                )
    return problems


def cluster_job_problems(job: FLJob) -> list[str]:
    folder = job.spec.workload.job_folder
    if folder is not None and folder.path is not None:
        return ["spec.workload.jobFolder.path: a local path works only with flarekube run"]
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
