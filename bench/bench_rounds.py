"""Where a round's seconds go: the CRC job of `make demo` under NVFlare's default timing and under flarekube's
(builders/tuning.py), in ONE federation, one after the other, plus a synthetic 28 MB model.

One local federation (server + 4 sites, mTLS, as `flarekube run` starts it) runs, in this order: the CRC job
with NVFlare's default poll intervals, the same job with flarekube's, then the 28 MB case with flarekube's
(and with NVFlare's, unless --short). Phases come from the timestamps in NVFlare's own job logs (server and
every site), averaged over the sites:

  submit -> deployed   submit_job until the server's controller begins (job processes up, model built)
  task fetch           the controller sends a round's task -> a site has it
  train                a site has the task -> its executor has the result (includes the Client API hand-offs)
  upload               the site starts sending -> the server has the result
  aggregate            the round's last result -> the controller's task is done (aggregation, persist)
  next task            the task is done -> the next round's task is sent

    python bench/bench_rounds.py [--rounds 10] [--short] [--json FILE]

--short: 2 rounds per job and the 28 MB case with flarekube's timing only (tests/federation runs it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flarekube import flare
from flarekube.api import FLJob, FLProject, load_bundle
from flarekube.builders.jobfolder import build_job_folder
from flarekube.builders.tuning import FLAREKUBE_TIMING, NVFLARE_DEFAULTS, FlareTiming, tune_job_folder
from flarekube.local.data import csv_width, resolve_site_inputs
from flarekube.local.federation import LocalFederation, issue_kits, running
from flarekube.local.samples import latest_by_site, read_samples
from flarekube.local.workspace import Workspace
from flarekube_workloads.contract import METRICS_DIR_ENV, MODULE_EXECUTOR

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "crc-fedavg.yaml"
PHASES = ("submit -> deployed", "task fetch", "train", "upload", "aggregate", "next task")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


@dataclass
class JobTimes:
    label: str
    status: str
    submitted: float  # epoch seconds
    finished: float
    phases: dict[str, float] = field(default_factory=dict)  # mean per round (submit -> deployed: once)
    first_round: float = 0.0  # submit -> the first aggregation
    later_round: float = 0.0  # mean, round k-1 done -> round k done
    total: float = 0.0  # submit -> the last aggregation
    teardown: float = 0.0  # the last aggregation -> the job FINISHED
    train_only: float = 0.0  # synthetic: the trainer's own local time per round
    auc: dict[str, float] = field(default_factory=dict)


def stamps(log: Path, needle: str) -> list[float]:
    """Epoch times of the log lines containing `needle`."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = STAMP.match(line)
        if m and needle in line:
            out.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return out


def analyse(label: str, server_log: Path, site_logs: dict[str, Path], submitted: float, finished: float,
            status: str) -> JobTimes:  # fmt: skip
    t = JobTimes(label, status, submitted, finished)
    ready = stamps(server_log, "Beginning model controller run")
    starts = stamps(server_log, "Sending task train to")
    done = stamps(server_log, "task train exit with status")
    rounds = min(len(starts), len(done))
    if not ready or not rounds:
        return t
    results: dict[str, list[float]] = {s: stamps(server_log, f"got result from client {s} for task: name=train")
                                       for s in site_logs}  # fmt: skip
    per: dict[str, list[float]] = {p: [] for p in PHASES[1:]}
    for site, log in site_logs.items():
        got = stamps(log, "got task assignment: name=train")
        finished_task = stamps(log, "finished processing task")
        sending = stamps(log, "start to send task result to server")
        for k in range(min(rounds, len(got), len(finished_task), len(sending), len(results[site]))):
            per["task fetch"].append(got[k] - starts[k])
            per["train"].append(finished_task[k] - got[k])
            per["upload"].append(results[site][k] - sending[k])
    for k in range(rounds):
        last = max((r[k] for r in results.values() if len(r) > k), default=done[k])
        per["aggregate"].append(done[k] - last)
        if k + 1 < len(starts):
            per["next task"].append(starts[k + 1] - done[k])
    t.phases = {"submit -> deployed": ready[0] - submitted}
    t.phases.update({p: statistics.fmean(v) if v else 0.0 for p, v in per.items()})
    t.first_round = done[0] - submitted
    t.later_round = statistics.fmean([b - a for a, b in itertools.pairwise(done)]) if rounds > 1 else 0.0
    t.total = done[rounds - 1] - submitted
    t.teardown = finished - done[rounds - 1]
    trained = [float(m.group(1)) for log in site_logs.values()
               for m in re.finditer(r"synthetic train ([\d.]+) s", log.read_text(errors="replace"))]  # fmt: skip
    t.train_only = statistics.fmean(trained) if trained else 0.0
    return t


def synthetic(folder: Path) -> None:
    """Turn a built CRC job into the 28 MB case: the server starts from synthetic.Wide, sites run its loop."""
    server = folder / "app_server" / "config" / "config_fed_server.json"
    data = json.loads(server.read_text())
    for component in data.get("components", []):
        if str(component.get("path", "")).endswith("PTFileModelPersistor"):
            component["args"]["model"] = {"path": "flarekube_workloads.synthetic.Wide", "args": {}}
    server.write_text(json.dumps(data, indent=4))
    for config in folder.glob("*/config/config_fed_client.json"):
        client = json.loads(config.read_text())
        for entry in client["executors"]:
            if entry["executor"]["path"] == MODULE_EXECUTOR:
                entry["executor"]["args"]["task_module"] = "flarekube_workloads.synthetic"
        config.write_text(json.dumps(client, indent=4))


def run_job(fed: LocalFederation, job: FLJob, label: str, timing: FlareTiming, sites: dict[str, Any],
            change: Callable[[Path], None] | None = None) -> JobTimes:  # fmt: skip
    ws = fed.workspace
    for stale in ws.metrics.glob("*.jsonl"):
        stale.unlink()
    width = csv_width(sites)
    folder = build_job_folder(job, ws.jobs / label, sites, input_width=width, timing=timing)
    if change is not None:
        change(folder)
        tune_job_folder(folder, timing)
    submitted = time.time()
    job_id = flare.submit(fed.session, folder)
    state = flare.job_state(fed.session, job_id)
    deadline = time.monotonic() + job.spec.timeout_seconds
    while not state.finished:
        if time.monotonic() > deadline:
            flare.abort(fed.session, job_id)
            raise SystemExit(f"{label}: ran past {job.spec.timeout_seconds}s, aborted")
        time.sleep(0.1)
        state = flare.job_state(fed.session, job_id)
    finished = time.time()
    result = flare.download_result(fed.session, job_id)
    server_log = next(result.rglob("log.txt"))
    site_logs = {s: ws.participant(s) / job_id / "log.txt" for s in sites}
    times = analyse(label, server_log, site_logs, submitted, finished, state.status)
    latest = latest_by_site(read_samples(ws.metrics))
    times.auc = {s: float(v) for s, row in latest.items() if (v := row.get("val_auc")) is not None}
    return times


def report(a: JobTimes, b: JobTimes) -> str:
    rows = [("", a.label, b.label, "ratio")]
    def row(name: str, x: float, y: float) -> None:
        rows.append((name, f"{x:.3f}", f"{y:.3f}", f"{x / y:.2f}x" if y > 0 else "-"))
    for p in PHASES:
        row(p, a.phases.get(p, 0.0), b.phases.get(p, 0.0))
    row("first round (submit -> 1st aggregation)", a.first_round, b.first_round)
    row("later round (mean)", a.later_round, b.later_round)
    row("submit -> last aggregation", a.total, b.total)
    row("teardown (last aggregation -> FINISHED)", a.teardown, b.teardown)
    if a.train_only or b.train_only:
        row("local training per round", a.train_only, b.train_only)
        row("per-round overhead (round - training)", a.later_round - a.train_only, b.later_round - b.train_only)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join(line(r) for r in rows)


def with_rounds(job: FLJob, rounds: int) -> FLJob:
    """The same FLJob with another number of rounds (the models are frozen)."""
    return job.model_copy(update={"spec": job.spec.model_copy(update={"rounds": rounds})})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10, help="rounds of the CRC job (the synthetic job: half)")
    p.add_argument("--short", action="store_true", help="2 rounds each, 28 MB case with flarekube's timing only")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    args = p.parse_args(argv)
    rounds = 2 if args.short else args.rounds
    bundle = load_bundle([EXAMPLE])
    project: FLProject = bundle.project
    crc = with_rounds(bundle.jobs[0], rounds)
    big = with_rounds(crc, 2 if args.short else max(2, rounds // 2))
    names = [s.name for s in project.spec.sites]
    inputs, problems = resolve_site_inputs(project, crc, names, bundle.base_dir)
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as tmp:
        ws = Workspace(Path(tmp) / "ws")
        issue_kits(project, ws, reissue_kits=False, new_root_ca=False)
        def site_env(name: str) -> dict[str, str]:
            return {METRICS_DIR_ENV: str(ws.metrics)}

        with running(project, ws, names, site_env) as fed:
            default = run_job(fed, crc, "nvflare-defaults", NVFLARE_DEFAULTS, inputs)
            tuned = run_job(fed, crc, "flarekube", FLAREKUBE_TIMING, inputs)
            big_tuned = run_job(fed, big, "28MB-flarekube", FLAREKUBE_TIMING, inputs, synthetic)
            big_default = (None if args.short else
                           run_job(fed, big, "28MB-nvflare-defaults", NVFLARE_DEFAULTS, inputs, synthetic))  # fmt: skip
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
          f"CRC {rounds} rounds x 4 sites, 28 MB model {big.spec.rounds} rounds")  # fmt: skip
    print("\nCRC job (examples/crc-fedavg.yaml), seconds")
    print(report(default, tuned))
    auc_gap = max((abs(default.auc[s] - tuned.auc.get(s, 0.0)) for s in default.auc), default=float("nan"))
    print(f"final val_auc per site: {default.label} {default.auc}; {tuned.label} {tuned.auc}; max gap {auc_gap:.4f}")
    print("\n28 MB model, seconds")
    print(report(big_default, big_tuned) if big_default else report(big_tuned, big_tuned))
    results = [default, tuned, big_tuned] + ([big_default] if big_default else [])
    if args.json:
        args.json.write_text(json.dumps([vars(r) for r in results], indent=2))
    bad = [r.label for r in results if r.status != "FINISHED:COMPLETED" or not r.phases]
    if bad:
        print(f"jobs that did not complete or left no round in their logs: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
