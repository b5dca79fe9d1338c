"""`flarekube run --detach`: the command returns, `status`/`logs`/`stop` talk to the supervisor, and neither
`stop` nor a SIGKILL of the supervisor leaves a process started from its workspace (or a busy port)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.local.ports import is_free
from flarekube.local.watchdog import under

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

QUICK = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}
LONG = {"kind": "clinical-tabular", "localEpochs": 5}


def _cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "flarekube", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)  # fmt: skip


def _status(tmp_path: Path, name: str) -> dict[str, Any]:
    result = _cli(tmp_path, "status", "-p", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _start(tmp_path: Path, name: str, rounds: int, workload: dict[str, Any]) -> dict[str, Any]:
    spec = tmp_path / f"{name}-{rounds}.yaml"
    spec.write_text(yaml.safe_dump_all([project_doc(name, 2), job_doc("job", name, rounds, 2, workload)]))
    started = time.monotonic()
    result = _cli(tmp_path, "run", "--detach", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30, "run --detach must return once the supervisor checked the data"
    assert f"flarekube stop -p {name}" in result.stdout and f"flarekube logs SITE -p {name}" in result.stdout
    data = _status(tmp_path, name)
    assert data["state"] == "running", data
    return data


def _wait(tmp_path: Path, name: str, until: Any, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        data = _status(tmp_path, name)
        if until(data):
            return data
        assert time.monotonic() < deadline, f"waited {seconds:.0f}s; status: {data}"
        time.sleep(1)


def _nothing_left_within(tmp_path: Path, name: str, seconds: float) -> None:
    root = tmp_path / "state" / "flarekube" / name
    ports = {k: v for k, v in json.loads((root / "ports.json").read_text()).items() if k in ("fl", "admin")}
    deadline = time.monotonic() + seconds
    while under(str((root / "run").resolve())) or nvflare_processes(str(tmp_path)) or not all(
        is_free(p) for p in ports.values()
    ):
        left = [" ".join(p.cmdline()[:4]) for p in under(str(root / "run"))]
        assert time.monotonic() < deadline, f"after {seconds:.0f}s still running: {left}, ports {ports}"
        time.sleep(0.5)


def test_detached_run_finishes_and_shows_status_and_logs(tmp_path: Path) -> None:
    data = _start(tmp_path, "dq", 2, QUICK)
    assert data["rounds"] == 2 and os.stat(data["workspace"] + "/detached").st_mode & 0o777 == 0o700
    done = _wait(tmp_path, "dq", lambda d: d["state"] != "running", 240)
    assert done["state"] == "finished" and done["exitCode"] == 0, done
    assert done["round"] == 2 and set(done["sites"]) == {"site-1", "site-2"}, done
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "FINISHED:COMPLETED"

    site_log = _cli(tmp_path, "logs", "site-1", "-p", "dq", "--tail", "5")
    assert site_log.returncode == 0 and len(site_log.stdout.splitlines()) == 5, site_log.stderr
    followed = _cli(tmp_path, "logs", "--server", "-p", "dq", "-f", timeout=30)  # the run ended: -f returns
    assert followed.returncode == 0 and followed.stdout.strip()
    assert "BEGIN" not in (Path(data["workspace"]) / "detached" / "state.json").read_text()  # no key in the record
    nothing = _cli(tmp_path, "stop", "-p", "dq")
    assert nothing.returncode == 1 and "nothing runs" in nothing.stderr


def test_detached_run_stopped_or_killed_leaves_nothing(tmp_path: Path) -> None:
    _start(tmp_path, "dl", 50, LONG)
    _wait(tmp_path, "dl", lambda d: d["phase"] == "job", 180)  # mid-run: the job is submitted
    assert len(nvflare_processes(str(tmp_path))) >= 3
    again = _cli(tmp_path, "run", "--detach", str(tmp_path / "dl-50.yaml"))
    assert again.returncode == 1 and "already running" in again.stderr
    asked = time.monotonic()
    stopped = _cli(tmp_path, "stop", "-p", "dl")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert time.monotonic() - asked < 45, "stop waits for the supervisor, which stops each participant"
    _nothing_left_within(tmp_path, "dl", 15)
    assert _status(tmp_path, "dl")["state"] == "stopped"

    # SIGKILL gives the supervisor no chance: its watchdog and the parent-death signal stop everything
    data = _start(tmp_path, "dl", 50, LONG)
    _wait(tmp_path, "dl", lambda d: d["phase"] == "job", 180)
    os.kill(data["pid"], signal.SIGKILL)
    _nothing_left_within(tmp_path, "dl", 15)
    killed = _status(tmp_path, "dl")
    assert killed["state"] == "failed" and "killed" in killed["message"], killed
