"""Issue 12: a second `flarekube run` of the same project refuses (a lock on the workspace) and never
deletes the first run's tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flarekube.local.workspace import Workspace, WorkspaceBusy

REPO = Path(__file__).resolve().parents[2]
HOLD = "import sys, time; from flarekube.local.workspace import Workspace\n" \
       "with Workspace(__import__('pathlib').Path(sys.argv[1])).locked():\n" \
       "    print('held', flush=True); time.sleep(60)\n"  # fmt: skip


def test_the_lock_names_its_holder_and_is_released_with_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ})  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceBusy, match=f"pid {holder.pid}"), ws.locked():
            pass
    finally:
        holder.kill()
        holder.wait()
    with ws.locked():  # the holder died: its flock went with it, no stale lock
        assert (ws.root / ".lock").stat().st_mode & 0o777 == 0o600


def test_a_second_run_refuses_and_leaves_the_first_runs_tree(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    marker = ws.run / "participants" / "site-1" / "in-use"
    marker.parent.mkdir(parents=True)
    marker.write_text("the first run's files")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "flarekube", "run", str(REPO / "examples" / "crc-fedavg.yaml"),
             "--workspace", str(ws.root), "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"pid {holder.pid}" in second.stdout + second.stderr
        assert "Traceback" not in second.stderr
        assert marker.read_text() == "the first run's files"
        assert not (ws.root / "kits").exists() or not any((ws.root / "kits").iterdir()), "nothing issued"
        assert time.monotonic() - start < 60
    finally:
        holder.kill()
        holder.wait()
