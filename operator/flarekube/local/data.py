"""Resolve and check every site's data before anything starts: a missing path is named up front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flarekube.api.job import FLJob, SiteData
from flarekube.api.project import FLProject
from flarekube.builders.jobfolder import SiteInputs

DEFAULT_FILES = {
    "clinical-tabular": ("{site}.csv", "{site}_test.csv"),
}


@dataclass(frozen=True)
class DataProblem:
    site: str
    message: str

    def __str__(self) -> str:
        return f"site {self.site}: {self.message}"


def resolve_site_inputs(
    project: FLProject, job: FLJob, sites: list[str], base_dir: Path
) -> tuple[dict[str, SiteInputs], list[DataProblem]]:
    inputs: dict[str, SiteInputs] = {}
    problems: list[DataProblem] = []
    builtin = job.spec.workload.kind != "jobFolder"
    for name in sites:
        site = project.site(name)
        source = site.data
        if source is None:
            if builtin:
                problems.append(DataProblem(name, "has no data source (spec.sites[].data.localPath)"))
            continue
        if source.local_path is None:
            problems.append(
                DataProblem(
                    name, "flarekube run needs spec.sites[].data.localPath (hostPath/pvc are cluster-only)"
                )
            )
            continue
        folder = (base_dir / source.local_path).resolve()
        if not folder.is_dir():
            problems.append(DataProblem(name, f"data folder {folder} does not exist"))
            continue
        files = job.spec.data.get(name, SiteData())
        defaults = DEFAULT_FILES.get(job.spec.workload.kind)
        if defaults is not None:
            for label, given, default in (
                ("train", files.train, defaults[0]),
                ("test", files.test, defaults[1]),
            ):
                path = folder / (given or default).replace("{site}", name)
                if not path.is_file():
                    problems.append(DataProblem(name, f"{label} file {path} does not exist"))
        if job.spec.workload.kind == "chest-xray-cnn":
            problems += _xray_layout_problems(name, folder, str(job.spec.workload.params.get("layout", "npz")))
        inputs[name] = SiteInputs(data_dir=str(folder), files=files)
    return inputs, problems


def _xray_layout_problems(site: str, folder: Path, layout: str) -> list[DataProblem]:
    if layout == "nih" and not (folder / "Data_Entry_2017.csv").is_file():
        return [DataProblem(site, f"{folder} has no Data_Entry_2017.csv (NIH ChestX-ray14 layout)")]
    if layout == "npz" and not any(folder.glob("*.npz")):
        return [DataProblem(site, f"{folder} has no .npz file (MedMNIST ChestMNIST layout)")]
    return []
