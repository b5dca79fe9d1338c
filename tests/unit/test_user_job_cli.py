"""`flarekube run` with a user's job folder that cannot run: one clear error before anything starts.

Each case runs the real CLI in a child process, from a folder other than the YAML's, and checks the exit
code (3 invalid input, 4 refused by a site's policy: docs/cli.md), the message, and that nothing started:
no workspace (so no kit was issued) and no NVFlare process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.federation import job_doc, nvflare_processes
from tests.support.userjobs import JOBLIB_PERSISTOR, byo_project, export_sklearn_job


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_sklearn_job(tmp_path_factory.mktemp("sk"), rounds=2)


def _run(tmp_path: Path, path: str, project: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    job = job_doc("sk-job", "byo", 2, 2, {"kind": "jobFolder", "jobFolder": {"path": path}})
    (specs / "bundle.yaml").write_text(yaml.safe_dump_all([project or byo_project("byo", 2), job]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {**os.environ, "COLUMNS": "200", "XDG_STATE_HOME": str(tmp_path / "state")}
    ran = subprocess.run([sys.executable, "-m", "flarekube", "run", str(specs / "bundle.yaml"), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env,
                         cwd=elsewhere)  # fmt: skip
    assert not (tmp_path / "state").exists(), "no kit may be issued before the job folder checks out"
    assert not (tmp_path / "out").exists()
    assert nvflare_processes(str(tmp_path)) == []
    return ran


def _link(tmp_path: Path, exported: Path) -> None:
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "jobs").symlink_to(exported.parent, target_is_directory=True)


def test_a_relative_path_is_the_yamls_and_a_refusal_names_class_and_field(tmp_path: Path, exported: Path) -> None:
    _link(tmp_path, exported)
    ran = _run(tmp_path, "jobs/sk-job")  # resolved against specs/, not the working folder
    assert ran.returncode == 4, ran.stderr
    assert "nothing was started" in ran.stderr
    assert f"server: component {JOBLIB_PERSISTOR}" in ran.stderr
    assert "spec.server.allowComponents" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_missing_folder_is_invalid_input(tmp_path: Path) -> None:
    ran = _run(tmp_path, "jobs/nope")
    assert ran.returncode == 3, ran.stderr
    assert f"spec.workload.jobFolder.path: {tmp_path}/specs/jobs/nope does not exist" in ran.stderr


def test_a_folder_that_is_not_an_nvflare_job_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "specs" / "notajob").mkdir(parents=True)
    (tmp_path / "specs" / "notajob" / "train.py").write_text("print('hi')\n")
    ran = _run(tmp_path, "notajob")
    assert ran.returncode == 3, ran.stderr
    assert "has no meta.json or meta.conf (not an NVFlare job folder" in ran.stderr


def test_a_class_that_does_not_import_is_invalid_input_naming_it(tmp_path: Path, exported: Path) -> None:
    import shutil

    folder = Path(shutil.copytree(exported, tmp_path / "specs" / "job"))
    config = folder / "app" / "config" / "config_fed_client.json"
    data = json.loads(config.read_text())
    data["components"].append({"id": "x", "path": "my_hospital_pkg.filters.Mine"})
    config.write_text(json.dumps(data))
    project = byo_project("byo", 2, server_allow=[JOBLIB_PERSISTOR])
    for site in project["spec"]["sites"]:
        site["policy"] = {"allowComponents": ["my_hospital_pkg."]}
    ran = _run(tmp_path, "job", project)
    assert ran.returncode == 3, ran.stderr
    assert ("site-1, site-2: component my_hospital_pkg.filters.Mine does not import here: no module "
            "my_hospital_pkg") in ran.stderr  # fmt: skip
