"""Ctrl-C, SIGTERM or SIGKILL during a run: within 15 s no process it started is left and its ports are free."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from flarekube.local.ports import is_free

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare


def _start_federation(tmp_path: Path, name: str) -> subprocess.Popen[str]:
    workload = {"kind": "clinical-tabular", "localEpochs": 5}
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all([project_doc(name, 2), job_doc("long", name, 50, 2, workload)]))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "100"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flarekube", "run", str(spec), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # wait until the federation is up and the job is submitted
        if "federation up" in line or time.monotonic() > deadline:
            break
    time.sleep(5)
    assert len(nvflare_processes(str(tmp_path))) >= 3  # server + 2 sites really run
    return proc


def _nothing_left_within(tmp_path: Path, name: str, seconds: float) -> None:
    ports = {k: v for k, v in json.loads((tmp_path / "state" / "flarekube" / name / "ports.json").read_text()).items()
             if k in ("fl", "admin")}  # the ports the run used (ports.json also keeps the spec's)
    deadline = time.monotonic() + seconds
    while nvflare_processes(str(tmp_path)) or not all(is_free(p) for p in ports.values()):
        left = [" ".join(p.cmdline()[:4]) for p in nvflare_processes(str(tmp_path))]
        assert time.monotonic() < deadline, f"after {seconds:.0f}s still running: {left}, ports {ports}"
        time.sleep(0.5)


def test_ctrl_c_mid_job_leaves_no_process(tmp_path: Path) -> None:
    proc = _start_federation(tmp_path, "intr")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "every NVFlare process was stopped" in err
    assert nvflare_processes(str(tmp_path)) == []


def test_sigterm_stops_the_federation_like_ctrl_c(tmp_path: Path) -> None:
    proc = _start_federation(tmp_path, "term")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM): every NVFlare process was stopped" in err
    _nothing_left_within(tmp_path, "term", 15)


def test_sigkill_of_the_cli_leaves_no_process_behind(tmp_path: Path) -> None:
    """No chance to clean up: the watchdog (and the parent-death signal) stop the server, sites, job workers."""
    proc = _start_federation(tmp_path, "kill")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    _nothing_left_within(tmp_path, "kill", 15)
