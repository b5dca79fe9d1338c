"""flarekube's short poll intervals keep fault tolerance: a site whose job process stalls in the middle of a job
does not hold the job -- each round closes after roundTimeoutSeconds with the other sites' results, up to the
last round, and the run ends (docs/fault-tolerance.md).

A site job process killed while its site's client lives is not this case: the client reports the crash and
NVFlare 2.9's server fails the whole job ("Failing job ... due to reported failure from site-3"), whatever
the timing; a whole site lost (its pod deleted) is tests/e2e's test_a_site_pod_deleted_mid_round_*."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from flarekube.local.samples import read_samples

from tests.support.federation import job_doc, project_doc

pytestmark = pytest.mark.nvflare
ROUNDS = 5


def _job_process(marker: str, site: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if marker in cmd and "worker_process" in cmd and f"/{site}" in cmd:
            return proc
    return None


# A KNOWN DEFECT, not a skip (issue 15 stays open): with a site's job process SIGSTOPped, every round closes
# without it (asserted before the failing line), but NVFlare's end of job then waits for that process, so
# the run ends only at spec.timeoutSeconds (aborted). Measured 3 of 3 runs on 2026-12-02, on the `fast`
# branch alone and merged. Not strict: one CI run ended on time (the stall is intermittent).
@pytest.mark.xfail(strict=False, reason="a stalled site holds NVFlare's end of job until timeoutSeconds, "
                   "most runs (issue 15; it passed once in CI, so the defect is intermittent)")
def test_a_stalled_site_does_not_hold_the_job_with_tuned_timing(tmp_path: Path) -> None:
    fault = signal.SIGSTOP
    job = job_doc("ft", "ftp", ROUNDS, 3, {"kind": "clinical-tabular", "localEpochs": 1})
    job["spec"]["faultTolerance"] = {"minResponses": 2, "roundTimeoutSeconds": 5}
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all([project_doc("ftp", 3), job]))
    ws = tmp_path / "ws"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "flarekube", "run", str(spec), "--no-compare", "--out",
                             str(tmp_path / "out"), "--workspace", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    victim: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 240
        while not any(s.site == "site-3" for s in read_samples(ws / "run" / "metrics")):  # site-3 trained a round
            assert proc.poll() is None and time.monotonic() < deadline, "the job never reached its first result"
            time.sleep(0.2)
        victim = _job_process(str(tmp_path), "site-3")
        assert victim is not None, "site-3's job process was not found"
        victim.send_signal(fault)
        lost_at = time.monotonic()
        output, _ = proc.communicate(timeout=300)
        ended = time.monotonic() - lost_at
    finally:
        if victim is not None and fault == signal.SIGSTOP and victim.is_running():
            victim.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    samples = read_samples(ws / "run" / "metrics")
    last = {site: max(s.round for s in samples if s.site == site) for site in ("site-1", "site-2", "site-3")}
    assert last["site-1"] == last["site-2"] == ROUNDS - 1, (last, output[-3000:])  # every round closed without it
    assert last["site-3"] < ROUNDS - 1
    # ROUNDS rounds each closed by the 5 s round timeout, plus NVFlare's end of job: bounded, not hanging
    assert ended < ROUNDS * 5 + 90, output[-3000:]
    assert proc.returncode in (0, 1), output[-3000:]
