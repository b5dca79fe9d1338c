"""Loading FLProject/FLJob documents the way `flarekube run` does: one file or several."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flarekube.api import SpecError, load_bundle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crc-fedavg.yaml"


def _split(tmp_path: Path) -> tuple[Path, Path]:
    project, job = yaml.safe_load_all(EXAMPLE.read_text())
    (tmp_path / "p").mkdir()
    (tmp_path / "j").mkdir()
    (tmp_path / "p" / "project.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / "j" / "job.yaml").write_text(yaml.safe_dump(job))
    return tmp_path / "p" / "project.yaml", tmp_path / "j" / "job.yaml"


def test_project_and_job_in_two_files_give_the_same_bundle(tmp_path: Path) -> None:
    project_file, job_file = _split(tmp_path)
    one = load_bundle([EXAMPLE])
    two = load_bundle([job_file, project_file])  # order does not matter
    assert two.project == one.project and two.jobs == one.jobs
    assert two.base_dir == project_file.parent  # local paths are relative to the project's file


def test_a_job_for_another_project_is_named(tmp_path: Path) -> None:
    project_file, job_file = _split(tmp_path)
    job = yaml.safe_load(job_file.read_text())
    job["spec"]["projectRef"] = "other"
    job["spec"]["minSites"] = 9
    job_file.write_text(yaml.safe_dump(job))
    with pytest.raises(SpecError) as err:
        load_bundle([project_file, job_file])
    assert 'spec.projectRef: "other" does not name the FLProject "crc"' in err.value.problems
    assert "spec.minSites: 9 is more than the 4 sites available" in err.value.problems


def test_two_projects_or_none_are_refused(tmp_path: Path) -> None:
    project_file, job_file = _split(tmp_path)
    with pytest.raises(SpecError, match="exactly one FLProject is needed, found 0"):
        load_bundle([job_file])
    with pytest.raises(SpecError, match="found 2"):
        load_bundle([project_file, project_file])
    with pytest.raises(SpecError, match="file not found"):
        load_bundle([tmp_path / "missing.yaml"])
