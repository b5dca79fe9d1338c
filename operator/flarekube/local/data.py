"""Resolve every site's data for `flarekube run`; the checks themselves are api.validation's.

Also the one fact about the data the job folder needs from this machine: the tabular input width.
"""

from __future__ import annotations

from pathlib import Path

from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.api.validation import DataProblem, local_data_folder, local_data_problems, site_files
from flarekube.builders.jobfolder import SiteInputs
from flarekube.builders.workloads import workload


def resolve_site_inputs(
    project: FLProject, job: FLJob, sites: list[str], base_dir: Path
) -> tuple[dict[str, SiteInputs], list[DataProblem]]:
    """SiteInputs for every site whose data checks out, and one DataProblem per thing that does not."""
    rules = workload(job.spec.workload.kind)
    problems = local_data_problems(project, job, sites, base_dir, rules)
    failed = {p.site for p in problems}
    inputs: dict[str, SiteInputs] = {}
    for name in sites:
        folder = local_data_folder(project, name, base_dir)
        if folder is not None and name not in failed:
            inputs[name] = SiteInputs(data_dir=str(folder), files=site_files(job, name, rules))
    return inputs, problems


def csv_width(inputs: dict[str, SiteInputs]) -> int | None:
    """Features per row of the first site's train CSV (label first, no header); None when unreadable."""
    for site in inputs.values():
        path = Path(site.data_dir) / str(site.files.train)
        try:
            with path.open() as fh:
                first = fh.readline()
        except OSError:
            continue
        if first.strip():
            return len(first.split(",")) - 1
    return None
