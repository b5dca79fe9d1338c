"""`flarekube run`: validate -> check data -> issue kits -> start federation -> submit -> follow -> report.

Nothing starts before every check that can fail without a federation has passed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flarekube_workloads.contract import METRICS_DIR_ENV
from rich.console import Console
from rich.live import Live
from rich.table import Table

from flarekube import flare
from flarekube.api import Bundle, FLJob, FLProject
from flarekube.builders.jobcheck import check_job_folder
from flarekube.builders.jobfolder import SiteInputs, build_job_folder, job_sites
from flarekube.local import outputs
from flarekube.local.compare import compare_tabular
from flarekube.local.data import csv_width, resolve_site_inputs
from flarekube.local.federation import LocalFederation, issue_kits, running
from flarekube.local.imports import import_error
from flarekube.local.progress import JobView
from flarekube.local.samples import read_samples
from flarekube.local.workspace import Workspace, WorkspaceBusy, default_root
from flarekube.status.joblogs import error_summary


class RunError(RuntimeError):
    """A run failed; the message says what to do."""


class JobFolderRefused(RunError):
    """A user's job folder cannot run, found before anything started; `refused`: only because a site's
    policy says no (exit 4), else the input is invalid (exit 3)."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass
class RunOptions:
    out: Path
    workspace: Path | None = None
    connect_timeout: float = 60.0
    reissue_kits: bool = False
    new_root_ca: bool = False
    compare: bool = True
    # Called with what a detached run records (phase, then per poll the job's round and sites).
    report: Callable[[dict[str, Any]], None] | None = None

    def progress(self, **data: Any) -> None:
        if self.report is not None:
            self.report(data)
    metrics_port: int | None = None  # serve federation metrics: the server on it, site i on it + 1 + i


@dataclass
class JobResult:
    name: str
    job_id: str
    status: str
    seconds: float
    out: Path
    summary: dict[str, Any] = field(default_factory=dict)


def run(bundle: Bundle, options: RunOptions, console: Console) -> list[JobResult]:
    project = bundle.project
    if not bundle.jobs:
        raise RunError("no FLJob given: pass a job file (or put the FLJob in the project file after ---)")
    all_sites = [s.name for s in project.spec.sites]
    plan: list[tuple[FLJob, dict[str, SiteInputs], Path | None]] = []
    for job in bundle.jobs:
        inputs, problems = resolve_site_inputs(project, job, job_sites(job, all_sites), bundle.base_dir)
        if problems:
            raise RunError(
                "data check failed before anything started:\n" + "\n".join(f"  {p}" for p in problems)
            )
        plan.append((job, inputs, user_job_folder(bundle, job, job_sites(job, all_sites))))
    sites = sorted({s for job, _, _ in plan for s in job_sites(job, all_sites)}, key=all_sites.index)
    options.progress(phase="checked")

    ws = Workspace(options.workspace or default_root(project.metadata.name))
    try:
        with ws.locked():
            return _run_locked(project, ws, plan, sites, options, console)
    except WorkspaceBusy as busy:
        raise RunError(str(busy)) from None


def _run_locked(project: FLProject, ws: Workspace, plan: list[tuple[FLJob, dict[str, SiteInputs], Path | None]],
                sites: list[str], options: RunOptions, console: Console) -> list[JobResult]:  # fmt: skip
    started = time.monotonic()
    report = issue_kits(project, ws, reissue_kits=options.reissue_kits, new_root_ca=options.new_root_ca)
    console.print(
        f"[green]kits[/] issued {len(report.issued)}, kept {len(report.kept)}, removed {len(report.removed)}"
        + (f" (config re-rendered for {len(report.reconfigured)}, nothing re-issued)" if report.reconfigured else "")
        + "; "
        f"root CA {report.ca_fingerprint[:16]}… expires {report.ca_expires:%Y-%m-%d}  [dim](workspace {ws.root})[/]"
    )

    def site_env(name: str) -> dict[str, str]:
        return {METRICS_DIR_ENV: str(ws.metrics)}

    results: list[JobResult] = []
    with running(
        project, ws, sites, site_env, connect_timeout=options.connect_timeout, metrics_port=options.metrics_port
    ) as fed:
        console.print(
            f"[green]federation up[/] server + {len(sites)} sites connected with mTLS "
            f"in {time.monotonic() - started:.1f}s"
        )
        options.progress(phase="up")
        if options.metrics_port is not None:
            last = options.metrics_port + len(sites)
            console.print(f"[green]metrics[/] http://127.0.0.1:{options.metrics_port}/metrics (server); "
                          f"sites on ports {options.metrics_port + 1}-{last}")  # fmt: skip
        for job, inputs, folder in plan:
            out = options.out if len(plan) == 1 else options.out / job.metadata.name
            results.append(_run_job(fed, job, inputs, out, options, console, folder))
    return results


def user_job_folder(bundle: Bundle, job: FLJob, sites: list[str]) -> Path | None:
    """A jobFolder job's folder (a relative path is the job YAML's folder's, like localPath), checked
    whole before any kit or process: shape, imports, every participant's policy."""
    source = job.spec.workload.job_folder
    if source is None or source.path is None:
        return None
    folder = (bundle.job_dir(job) / source.path).resolve()
    checked = check_job_folder(bundle.project, job, folder, sites, import_error)
    for warning in (p for p in checked if p.warning):
        print(f"warning: FLJob {job.metadata.name}: {warning} (the job runs on the other sites)", file=sys.stderr)
    problems = [p for p in checked if not p.warning]
    if problems:
        raise JobFolderRefused(
            f"FLJob {job.metadata.name}: the job folder cannot run ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}); nothing was started:\n" + "\n".join(f"  {p}" for p in problems),
            refused=all(p.refused for p in problems),
        )
    return folder


def _run_job(
    fed: LocalFederation,
    job: FLJob,
    inputs: dict[str, SiteInputs],
    out: Path,
    options: RunOptions,
    console: Console,
    user_folder: Path | None = None,
) -> JobResult:
    ws = fed.workspace
    for stale in ws.metrics.glob("*.jsonl"):
        stale.unlink()
    width = csv_width(inputs) if job.spec.workload.kind == "clinical-tabular" else None
    folder = build_job_folder(job, ws.jobs / job.metadata.name, inputs, input_width=width, user_folder=user_folder)
    job_sites_ = list(inputs) or fed.sites
    view = JobView(job.metadata.name, job.spec.rounds, job_sites_)
    started = time.monotonic()
    job_id = flare.submit(fed.session, folder)
    state = flare.job_state(fed.session, job_id)
    with Live(view, console=console, refresh_per_second=4, transient=False):
        while not state.finished:
            if time.monotonic() - started > job.spec.timeout_seconds:
                flare.abort(fed.session, job_id)
                raise RunError(
                    f"job {job.metadata.name} ({job_id}) ran past spec.timeoutSeconds={job.spec.timeout_seconds}; "
                    f"aborted. Site logs: {ws.logs}"
                )
            dead = fed.supervisor.dead()
            if dead:
                raise RunError(f"{dead[0].name} exited during the job:\n{dead[0].log_tail()}")
            time.sleep(1.0)
            state = flare.job_state(fed.session, job_id)
            view.update(read_samples(ws.metrics), state.status, flare.connected_sites(fed.session),
                        None if state.finished else flare.job_progress(fed.session, job_id))
            options.progress(phase="job", job=job.metadata.name, jobId=job_id, **view.snapshot(state.status))
        view.update(read_samples(ws.metrics), state.status, completed=state.succeeded)
        options.progress(phase="job", job=job.metadata.name, jobId=job_id, **view.snapshot(state.status))
    console.print()
    seconds = time.monotonic() - started
    return _report(fed, job, job_id, state, inputs, out, seconds, options, console, view)


def _report(
    fed: LocalFederation,
    job: FLJob,
    job_id: str,
    state: flare.JobState,
    inputs: dict[str, SiteInputs],
    out: Path,
    seconds: float,
    options: RunOptions,
    console: Console,
    view: JobView,
) -> JobResult:
    previous = outputs.keep_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = read_samples(fed.workspace.metrics)
    sites = list(inputs) or fed.sites
    summary: dict[str, Any] = {
        "job": job.metadata.name,
        "job_id": job_id,
        "status": state.status,
        "rounds": job.spec.rounds,
        "sites": sites,
        "seconds": round(seconds, 2),
        "seconds_per_round": round(seconds / job.spec.rounds, 2),
        # which rendered policy (local/ digest) each site ran with, and the sites that refused the job
        "site_policies": {s: fed.policies[s] for s in sites if s in fed.policies},
        "refused": flare.refusals(state.meta),
        # what the server itself reported while the job ran (the progress bar), and what the sites tracked
        "rounds_reported": view.reported,
        "tracked_metrics": view.tracked,
    }
    result_dir = flare.download_result(fed.session, job_id)
    results = outputs.collect_results(result_dir, out)
    summary["results"] = [str(p) for p in results]
    job_logs = {"server": outputs.server_workspace(result_dir) / "log.txt",
                **{s: fed.workspace.participant(s) / job_id / "log.txt" for s in sites}}  # fmt: skip
    logs = outputs.collect_logs(job_logs, out)
    summary["logs"] = {name: str(path) for name, path in logs.items()}
    errors = error_summary({name: path.read_text(errors="replace").splitlines() for name, path in logs.items()})
    if errors:
        summary["first_errors"] = errors.splitlines()
    model = out / "global_model.pt" if out / "global_model.pt" in results else None
    if model is not None:
        summary["global_model"] = str(model)
    # Ditto's personal models stay in each site's job folder (they are never sent): copied beside the global
    personal = outputs.copy_personal_models({s: fed.workspace.participant(s) / job_id for s in sites}, out)
    if personal:
        summary["personalized_models"] = personal
    outputs.write_metrics_csv(samples, out / "metrics.csv")
    if samples:
        outputs.write_plot(
            samples, sites, f"{job.metadata.name}: {job.spec.algorithm.name}", out / "plot.png"
        )
    if (
        state.succeeded
        and model is not None
        and options.compare
        and job.spec.workload.kind == "clinical-tabular"
    ):
        w = job.spec.workload
        comparison = compare_tabular(
            model, inputs, job.spec.rounds * w.local_epochs, w.learning_rate, w.batch_size, job.spec.seed
        )
        summary["per_site"] = comparison
        console.print()
        console.print(_comparison_table(comparison))
    outputs.write_summary(summary, out / "summary.json")
    if previous is not None:
        console.print(f"[dim]the previous outputs in {out} were moved to {previous}[/]")
    if not state.succeeded:
        cause = f"\nfirst errors in the job's logs:\n{_indent(errors)}" if errors else ""
        raise RunError(
            f"job {job.metadata.name} ended {state.status}.{cause}\nLogs of this job: {out / 'logs'}; "
            f"server result: {result_dir}"
        )
    written = sorted({p.name for p in (*results, out / "metrics.csv", out / "summary.json", out / "plot.png")
                      if p.is_file()} | ({"logs/"} if logs else set()))  # fmt: skip
    console.print(
        f"[green]done[/] {job.metadata.name} {state.status} in {seconds:.1f}s "
        f"({seconds / job.spec.rounds:.1f}s/round) -> {out}/ ({', '.join(written)})"
    )
    return JobResult(job.metadata.name, job_id, state.status, seconds, out, summary)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _comparison_table(comparison: dict[str, dict[str, float]]) -> Table:
    table = Table(title="each site's own test set: local-only model vs federated model")
    for column in ("site", "test rows", "local-only AUC", "federated AUC", "gain"):
        table.add_column(column, justify="right" if column != "site" else "left")
    for site, row in comparison.items():
        gain = row["federated_auc"] - row["local_auc"]
        colour = "green" if gain >= 0 else "red"
        table.add_row(
            site,
            str(int(row["test_rows"])),
            f"{row['local_auc']:.3f}",
            f"{row['federated_auc']:.3f}",
            f"[{colour}]{gain:+.3f}[/]",
        )
    return table
