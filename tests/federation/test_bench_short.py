"""bench/bench_rounds.py --short runs in the suite so that it cannot rot: both timings and the 28 MB case complete,
every phase is found in NVFlare's logs, and flarekube's timing changes no site's result (timing itself is the
bench's business, not a test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nvflare
REPO = Path(__file__).resolve().parents[2]


def test_bench_rounds_short_measures_every_phase_of_both_timings(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_rounds.py"), "--short", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {r["label"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"nvflare-defaults", "flarekube", "28MB-flarekube"}
    for r in results.values():
        assert r["status"] == "FINISHED:COMPLETED", r
        assert set(r["phases"]) == {"submit -> deployed", "task fetch", "train", "upload", "aggregate", "next task"}
        assert r["phases"]["submit -> deployed"] > 0 and r["phases"]["train"] > 0 and r["total"] > r["first_round"] > 0
    assert results["28MB-flarekube"]["train_only"] >= 0.2  # the synthetic trainer's fixed local time was found
    default, tuned = results["nvflare-defaults"]["auc"], results["flarekube"]["auc"]
    assert set(default) == set(tuned) == {"site-1", "site-2", "site-3", "site-4"}
    assert all(abs(default[s] - tuned[s]) <= 0.005 for s in default), (default, tuned)
    assert "CRC job" in proc.stdout and "28 MB model" in proc.stdout and "ratio" in proc.stdout
