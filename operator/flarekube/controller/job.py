"""Reconcile one FLJob: parse -> find its project -> wait for sites -> submit -> follow -> status.

Submission is retry-safe: the FLJob's uid is NVFlare's submit token, so an operator killed between
submitting and recording the job id gets the same job back instead of starting a second one.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import multiprocessing
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flarekube import faults, flare, naming
from flarekube.api import FLJob, FLProject
from flarekube.api.documents import parse_resource
from flarekube.api.errors import SpecProblem
from flarekube.api.status import FLJobStatus, FLProjectStatus
from flarekube.api.validation import cluster_job_problems, cross_check, site_files
from flarekube.builders.jobcheck import check_job_folder
from flarekube.builders.jobfolder import JobFolderError, SiteInputs, build_job_folder, job_sites
from flarekube.builders.jobpack import packed_of, unpack_job_folder
from flarekube.builders.project import Target, target
from flarekube.builders.site import DATA_MOUNT
from flarekube.builders.workloads import workload
from flarekube.controller.project import admin_session, allowed_host_paths
from flarekube.kube import apply as k
from flarekube.kube.apply import Api
from flarekube.status.conditions import now_rfc3339
from flarekube.status.job import JobSnapshot, is_terminal, job_status
from flarekube.status.joblogs import error_summary

log = logging.getLogger(__name__)
POLL_SECONDS = 3.0  # handlers/job.py's timer interval
LINGER_SECONDS = int(3 * POLL_SECONDS)  # the controller stays up long enough for ~3 polls after its last round
BUILD_TIMEOUT_SECONDS = 300


class NotYet(RuntimeError):
    """The job cannot proceed yet (project missing or not enough sites); retried by the timer."""


def parse(body: dict[str, Any]) -> FLJob:
    return parse_resource(body, FLJob, cluster_job_problems)


def site_inputs(job: FLJob, project: FLProject) -> dict[str, SiteInputs]:
    """Each site's data as its pod sees it: the data volume at DATA_MOUNT, the workload's default files."""
    rules = workload(job.spec.workload.kind)
    return {name: SiteInputs(DATA_MOUNT, site_files(job, name, rules))
            for name in job_sites(job, [s.name for s in project.spec.sites])}  # fmt: skip


def project_of(api: Api, job: FLJob, namespace: str) -> tuple[Target, FLProjectStatus]:
    body = k.get(api, "FLProject", namespace, job.spec.project_ref)
    if body is None:
        raise NotYet(f'FLProject "{job.spec.project_ref}" does not exist (yet)')
    t = target(body, allowed_host_paths())
    problems = cross_check(t.project, job)
    if problems:
        raise SpecProblem("; ".join(problems))
    return t, FLProjectStatus.stored(body)


def build_apart(job: FLJob, dest: Path, inputs: dict[str, SiteInputs], user_folder: Path | None = None) -> Path:
    """Build the job folder in a short-lived child process: NVFlare's PyTorch recipe imports torch, which
    would otherwise stay in the operator's memory for good (≈ +480 MiB RSS measured)."""
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(build_job_folder, job, dest, inputs, linger_seconds=LINGER_SECONDS,
                             user_folder=user_folder)
        return future.result(timeout=BUILD_TIMEOUT_SECONDS)


# --- the steps ----------------------------------------------------------------------------------------


class Done(Exception):
    """A step decided the status: the later steps have nothing to do this time."""


@dataclass
class JobReconcile:
    api: Api
    body: dict[str, Any]
    previous: FLJobStatus
    job: FLJob = field(init=False)
    snap: JobSnapshot = field(init=False)
    t: Target = field(init=False)
    project_status: FLProjectStatus = field(init=False)
    user_folder: Path | None = None  # a ConfigMap's job folder, unpacked into `scratch` for this submit
    scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.body["metadata"])


def parse_job(r: JobReconcile) -> None:
    r.job = parse(r.body)
    r.snap = JobSnapshot(generation=int(r.meta.get("generation") or 0), total_rounds=r.job.spec.rounds,
                         job_id=r.previous.job_id, start_time=r.previous.start_time)  # fmt: skip


def find_project(r: JobReconcile) -> None:
    try:
        r.t, r.project_status = project_of(r.api, r.job, r.meta["namespace"])
    except NotYet as wait:
        r.snap = _with(r.snap, project_message=str(wait))
        raise Done from None


def wait_for_sites(r: JobReconcile) -> None:
    connected, minimum = r.project_status.sites_connected or 0, r.job.spec.min_sites
    if r.snap.job_id is None and connected < minimum:
        summary = r.project_status.sites_summary or "0/?"
        r.snap = _with(r.snap, project_message=f"{summary} sites connected, minSites is {minimum}")
        raise Done


def fetch_job_folder(r: JobReconcile) -> None:
    """Before the first submit only: a jobFolder job's ConfigMap, unpacked and checked."""
    source = r.job.spec.workload.job_folder
    if r.snap.job_id is not None or source is None or source.config_map is None:
        return
    r.scratch = tempfile.TemporaryDirectory(prefix="flarekube-userjob-")
    try:
        r.user_folder = job_folder_from_configmap(r.api, r.job, r.t.project, r.meta["namespace"], Path(r.scratch.name))
    except NotYet as wait:
        r.snap = _with(r.snap, project_message=str(wait))
        raise Done from None


def submit_and_follow(r: JobReconcile) -> None:
    """One admin session for the three Flare calls: submit (once), job state, progress (or abort)."""
    job, snap = r.job, r.snap
    with admin_session(r.api, r.t, r.project_status.ca_fingerprint or "") as sess:
        if snap.job_id is None:
            job_id = _submit(sess, job, r.t.project, r.meta["uid"], r.user_folder)
            snap = _with(snap, job_id=job_id, start_time=now_rfc3339())
        assert snap.job_id is not None
        state = flare.job_state(sess, snap.job_id)
        progress = None if state.finished else flare.job_progress(sess, snap.job_id)
        failure = server_errors(sess, snap.job_id) if state.finished and not state.succeeded else None
        if not state.finished and _age(snap.start_time) > job.spec.timeout_seconds:
            flare.abort(sess, snap.job_id)
            log.warning("FLJob %s ran past spec.timeoutSeconds; aborted", job.metadata.name)
    sites = job_sites(job, [s.name for s in r.t.project.spec.sites])
    r.snap = _with(snap, project_ready=True, nvflare_status=state.status,
                   rounds_done=progress.rounds_done if progress else None,
                   metrics=progress.metrics if progress else None, refusals=flare.refusals(state.meta), failure=failure,
                   site_policies=site_policies(r.api, r.t, sites))  # fmt: skip


def server_errors(sess: Any, job_id: str) -> str | None:
    """The first ERROR lines of the server's log of a failed job, from its downloaded result (the sites'
    logs stay in their pods: `kubectl logs`); None when the result cannot be had."""
    try:
        result = flare.download_result(sess, job_id)
    except Exception as err:  # a failed job may leave no result; the status still says it failed
        log.info("no result to read errors from for NVFlare job %s: %s", job_id, err)
        return None
    try:
        logs = sorted(result.rglob("log.txt"), key=lambda p: len(p.parts))
        if not logs:
            return None
        with logs[0].open(errors="replace") as fh:
            return error_summary({"server": fh}) or None
    finally:
        shutil.rmtree(result, ignore_errors=True)


def site_policies(api: Api, t: Target, sites: list[str]) -> dict[str, str]:
    """The digest of each job site's rendered local/ (its policy), from its ConfigMap: one LIST."""
    selector = naming.selector(naming.project_labels(t.name) | {naming.LABEL_COMPONENT: naming.COMPONENT_LOCAL_CONFIG})
    out: dict[str, str] = {}
    for cm in k.list_objects(api, "ConfigMap", t.namespace, selector):
        annotations = (cm.get("metadata") or {}).get("annotations") or {}
        participant = annotations.get(naming.ANNOTATION_PARTICIPANT)
        if participant in sites and naming.ANNOTATION_LOCAL_CONFIG in annotations:
            out[str(participant)] = str(annotations[naming.ANNOTATION_LOCAL_CONFIG])
    return out


def job_folder_from_configmap(api: Api, job: FLJob, project: FLProject, namespace: str, dest: Path) -> Path | None:
    """A jobFolder job's folder unpacked from its ConfigMap (`flarekube submit`), checked against every site's
    policy as `flarekube run` checks it (the import check needs the sites' image, not the operator's)."""
    source = job.spec.workload.job_folder
    if source is None or source.config_map is None:
        return None
    cm = k.get(api, "ConfigMap", namespace, source.config_map)
    if cm is None:
        raise NotYet(f'ConfigMap "{source.config_map}" with the job folder does not exist (yet)')
    try:
        folder = unpack_job_folder(packed_of(cm), dest / "user-job")
    except JobFolderError as err:
        raise SpecProblem(f"spec.workload.jobFolder.configMap: {err}") from None
    sites = job_sites(job, [s.name for s in project.spec.sites])
    # A site that refuses under its own policy (a warning): NVFlare says so at that site, the job runs on.
    problems = [p for p in check_job_folder(project, job, folder, sites) if not p.warning]
    if problems:
        raise SpecProblem("; ".join(map(str, problems)))
    return folder


def _submit(sess: Any, job: FLJob, project: FLProject, uid: str, user_folder: Path | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="flarekube-job-") as tmp:
        try:
            folder = build_apart(job, Path(tmp), site_inputs(job, project), user_folder)
        except JobFolderError as err:
            raise SpecProblem(str(err)) from None
        job_id = flare.submit(sess, folder, token=uid)
    log.info("submitted FLJob %s as NVFlare job %s", job.metadata.name, job_id)
    faults.hit("after-submit")
    return job_id


STEPS: tuple[Callable[[JobReconcile], None], ...] = (
    parse_job, find_project, wait_for_sites, fetch_job_folder, submit_and_follow)


def reconcile_job(api: Api, body: dict[str, Any]) -> FLJobStatus:
    previous = FLJobStatus.stored(body)
    if is_terminal(previous.phase):
        return previous  # a finished job is history: nothing to observe any more
    r = JobReconcile(api, body, previous)
    try:
        for step in STEPS:
            step(r)
    except Done:
        pass
    finally:
        if r.scratch is not None:
            r.scratch.cleanup()
    return job_status(r.snap, previous)


def abort(api: Api, body: dict[str, Any]) -> str:
    """Abort the NVFlare job of a deleted FLJob (finalizer). Returns what was done, for the log."""
    status = FLJobStatus.stored(body)
    if not status.job_id or is_terminal(status.phase):
        return "nothing to abort"
    job = parse(body)
    try:
        t, project_status = project_of(api, job, body["metadata"]["namespace"])
    except NotYet:
        return "project gone: its server (and the job) went with it"
    with admin_session(api, t, project_status.ca_fingerprint or "") as sess:
        if not flare.job_state(sess, status.job_id).finished:
            flare.abort(sess, status.job_id)
            return f"aborted NVFlare job {status.job_id}"
    return "already finished"


def _age(started: str | None) -> float:
    """Seconds since an RFC 3339 `startTime` (0 when unknown: a job is never aborted on a guess)."""
    try:
        then = datetime.datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return 0.0
    return (datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()


def _with(s: JobSnapshot, **changes: Any) -> JobSnapshot:
    from dataclasses import replace

    return replace(s, **changes)


def failed_status(body: dict[str, Any], problem: str) -> FLJobStatus:
    meta = body.get("metadata") or {}
    rounds = int(((body.get("spec") or {}).get("rounds")) or 0)
    snap = JobSnapshot(generation=int(meta.get("generation") or 0), total_rounds=rounds, spec_error=problem)
    return job_status(snap, FLJobStatus.stored(body))
