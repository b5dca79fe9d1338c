"""`flarekube init`, `doctor`, and the argument handling of `status`, `logs` and `stop` (issue 9).

The federation side of `run --detach` (a real supervisor, stop, SIGKILL) is tests/federation/test_detach.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.cli import app
from flarekube.local import detached
from flarekube.local.ports import free_port
from flarekube.local.workspace import Workspace
from typer.testing import CliRunner, Result

from tests.support.federation import project_doc

CHECK_STATUS = {"ok", "warn", "fail"}


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


# --- init -----------------------------------------------------------------------------------------------


def test_init_scaffolds_a_project_that_validate_and_plan_accept(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "My Federation"
    result = cli("init", str(folder), "--sites", "3")
    assert result.exit_code == 0, result.output
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == {
        "project.yaml", "job.yaml", "data/README.md", "data/site-1/.keep", "data/site-2/.keep", "data/site-3/.keep",
    }  # fmt: skip
    project = yaml.safe_load((folder / "project.yaml").read_text())
    assert project["metadata"]["name"] == "my-federation"
    assert [s["data"]["localPath"] for s in project["spec"]["sites"]] == [f"data/site-{i}" for i in (1, 2, 3)]
    assert "#" in (folder / "job.yaml").read_text() and "site-1_test.csv" in (folder / "data" / "README.md").read_text()

    valid = cli("validate", str(folder), "-o", "json")
    assert valid.exit_code == 0, valid.output
    assert sorted(d["kind"] for d in json.loads(valid.output)["documents"]) == ["FLJob", "FLProject"]
    plan = cli("plan", str(folder / "project.yaml"), str(folder / "job.yaml"), "-o", "json")
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.output)["createRootCA"] is True
    assert not (tmp_path / "state").exists()  # plan wrote nothing


def test_init_refuses_a_non_empty_folder_and_writes_nothing(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = cli("init", str(folder))
    assert result.exit_code == 4 and "not empty" in result.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "mine"

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli("init", str(a_file)).exit_code == 4 and a_file.read_text() == "x"


def test_init_with_an_invalid_name_names_the_field_and_writes_nothing(cli: Any, tmp_path: Path) -> None:
    result = cli("init", str(tmp_path / "new"), "--name", "Not_A_Name")
    assert result.exit_code == 3 and "metadata.name" in result.output
    assert not (tmp_path / "new").exists()


# --- doctor ---------------------------------------------------------------------------------------------


def _project_on(tmp_path: Path, fl: int, admin: int) -> Path:
    doc = project_doc("doc", 2)
    doc["spec"]["server"] = {"flPort": fl, "adminPort": admin}
    spec = tmp_path / "project.yaml"
    spec.write_text(yaml.safe_dump(doc))
    return spec


def _checks(result: Result) -> dict[str, dict[str, str]]:
    data = json.loads(result.output)
    assert set(data) == {"ok", "checks"} and isinstance(data["ok"], bool)
    for check in data["checks"]:
        assert set(check) == {"check", "status", "detail", "fix"} and check["status"] in CHECK_STATUS
        assert check["status"] == "ok" or check["fix"], f"{check['check']}: a warn or fail says what to do"
    return {c["check"]: c for c in data["checks"]}


def test_doctor_reports_versions_and_a_busy_port_by_its_holder(cli: Any, tmp_path: Path) -> None:
    fl, admin = free_port(), free_port()
    spec = _project_on(tmp_path, fl, admin)
    with socket.create_server(("127.0.0.1", fl)):  # before kits: the kits would be issued for other ports
        result = cli("doctor", str(spec), "-o", "json")
        assert result.exit_code == 0, result.output
        checks = _checks(result)
        assert {"python", "nvflare", "torch", "fl port", "admin port", "kits", "workspace"} <= set(checks)
        assert checks["python"]["status"] == checks["nvflare"]["status"] == checks["torch"]["status"] == "ok"
        assert checks["fl port"]["status"] == "warn" and f"pid {os.getpid()}" in checks["fl port"]["detail"]
        assert checks["admin port"]["status"] == "ok" and checks["kits"]["status"] == "warn"

    assert cli("kits", str(spec)).exit_code == 0
    with socket.create_server(("127.0.0.1", fl)):  # now the kits embed it: a failure, with what to do
        result = cli("doctor", str(spec), "-o", "json")
        assert result.exit_code == 1, result.output
        checks = _checks(result)
        assert checks["fl port"]["status"] == "fail" and f"pid {os.getpid()}" in checks["fl port"]["detail"]
        assert "--reissue-kits" in checks["fl port"]["fix"]
        assert checks["kits"]["status"] == "ok"
        assert checks["certificates"]["status"] == "ok" and "days left" in checks["certificates"]["detail"]
        assert checks["root CA"]["status"] == "ok"
    text = cli("doctor", str(spec))
    assert text.exit_code == 0 and "days left" in text.output, text.output


# --- status / logs / stop -------------------------------------------------------------------------------


def _record(tmp_path: Path, name: str, *, finished: int | None = None, dead: bool = False) -> Workspace:
    ws = Workspace(tmp_path / "state" / "flarekube" / name)
    detached.begin(ws, project=name, project_name=name, jobs=["j"], rounds={"j": 3}, participants=["server", "site-1"],
                   out=tmp_path / "out", files=[])  # fmt: skip
    if dead:  # a supervisor killed outright: its record still says running
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        detached.update_state(ws, pid=gone.pid, pidStarted=time.time() - 1)
    if finished is not None:
        detached.finish(ws, finished)
    return ws


def test_status_logs_stop_without_a_run_say_so(cli: Any) -> None:
    assert cli("status").exit_code == 0
    assert json.loads(cli("status", "-o", "json").output) == {"runs": []}
    missing = cli("status", "-p", "nope", "-o", "json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["ok"] is False
    stop = cli("stop")
    assert stop.exit_code == 1 and "no detached run is running" in stop.output
    assert cli("logs", "site-1").exit_code == 1


def test_argument_errors_are_usage_errors(cli: Any, tmp_path: Path) -> None:
    _record(tmp_path, "args", finished=0)
    assert cli("logs").exit_code == 2
    assert cli("logs", "site-1", "--server").exit_code == 2
    unknown = cli("logs", "site-9", "-p", "args")
    assert unknown.exit_code == 2 and "site-1" in unknown.output  # the known sites are named
    assert cli("status", str(tmp_path / "x.yaml"), "-p", "args").exit_code == 2
    assert cli("logs", "site-1", "-p", "args", "--tail", "-1").exit_code == 2
    assert cli("run", "--detach", "-").exit_code == 2
    no_log = cli("logs", "site-1", "-p", "args")
    assert no_log.exit_code == 1 and "no log for site-1" in no_log.output


def test_status_of_finished_and_killed_runs(cli: Any, tmp_path: Path) -> None:
    ws = _record(tmp_path, "done", finished=0)
    data = json.loads(cli("status", "-p", "done", "-o", "json").stdout)
    assert data["state"] == "finished" and data["exitCode"] == 0 and data["rounds"] == 3
    nothing = cli("stop", "-p", "done")
    assert nothing.exit_code == 1 and "nothing runs" in nothing.output
    assert os.stat(detached.folder(ws)).st_mode & 0o777 == 0o700
    assert os.stat(detached.state_file(ws)).st_mode & 0o777 == 0o600

    _record(tmp_path, "killed", dead=True)
    killed = yaml.safe_load(cli("status", "-p", "killed", "-o", "yaml").stdout)
    assert killed["state"] == "failed" and "killed" in killed["message"]
    listed = json.loads(cli("status", "-o", "json").stdout)["runs"]
    assert {(r["project"], r["state"]) for r in listed} == {("done", "finished"), ("killed", "failed")}


def test_logs_tail_and_follow_of_a_finished_run(cli: Any, tmp_path: Path) -> None:
    ws = _record(tmp_path, "lg", finished=0)
    ws.logs.mkdir(parents=True)
    (ws.logs / "site-1.log").write_text("".join(f"line {i}\n" for i in range(10)))
    (ws.logs / "server.log").write_text("server up\nno newline at the end")
    assert cli("logs", "site-1", "-p", "lg", "--tail", "3").stdout.splitlines() == ["line 7", "line 8", "line 9"]
    followed = cli("logs", "--server", "-p", "lg", "--follow")  # the run is over: follow ends at the end
    assert followed.exit_code == 0 and followed.stdout.splitlines() == ["server up", "no newline at the end"]
