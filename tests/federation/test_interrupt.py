"""Ctrl-C during a run stops every NVFlare process: nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare


def test_ctrl_c_mid_job_leaves_no_process(tmp_path: Path) -> None:
    workload = {"kind": "clinical-tabular", "localEpochs": 5}
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all([project_doc("intr", 2), job_doc("long", "intr", 50, 2, workload)]))
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
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "interrupted: every NVFlare process was stopped" in err
    assert nvflare_processes(str(tmp_path)) == []
