"""FLJob status from what was observed: the project's readiness, NVFlare's job status and progress.

Phases: Pending -> Submitted -> Running -> Succeeded | Failed | Aborted. Readiness is the same ordered
chain of small pure checks as the FLProject's: SpecValid -> Submitted -> Complete. ROUND ("7/10") and
METRIC come from the server's controller (the Flare boundary's job progress); once NVFlare reports the
job finished, the last progress that was observed is kept (a finished job has no controller left to ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flarekube_workloads.contract import KEY_METRIC

from flarekube.api.status import TERMINAL_JOB_PHASES, Condition, FLJobStatus, JobPhase, JobSiteStatus
from flarekube.status.conditions import FALSE, TRUE, condition, merge, run_chain

SUBMITTED_STATES = ("SUBMITTED", "APPROVED", "DISPATCHED")


@dataclass(frozen=True)
class JobSnapshot:
    generation: int
    total_rounds: int
    spec_error: str | None = None
    project_ready: bool = False
    project_message: str = ""
    job_id: str | None = None
    nvflare_status: str | None = None  # RunStatus value, e.g. RUNNING, FINISHED:COMPLETED
    rounds_done: int | None = None
    metrics: Mapping[str, float] | None = None
    submit_error: str | None = None
    start_time: str | None = None
    site_policies: Mapping[str, str] | None = None  # site -> digest of its rendered local/; None: not observed
    refusals: Mapping[str, str] | None = None  # site -> NVFlare's reason for refusing the job
    failure: str | None = None  # a failed job's first ERROR lines (status.joblogs), "participant: line" each


def _sites(s: JobSnapshot, previous: FLJobStatus) -> list[JobSiteStatus]:
    """Each site's policy digest and refusal, as observed now; kept from before when not observed."""
    if s.site_policies is None and s.refusals is None:
        return list(previous.sites)
    policies, refusals = dict(s.site_policies or {}), dict(s.refusals or {})
    return [JobSiteStatus(name=n, policy=policies.get(n), refused=(refusals[n][:1024] if n in refusals else None))
            for n in sorted(set(policies) | set(refusals))]  # fmt: skip


def job_phase(s: JobSnapshot, rounds_done: int = 0) -> JobPhase:
    status = s.nvflare_status or ""
    if s.spec_error:
        return "Failed"
    if s.job_id is None:
        return "Pending"
    if status == "FINISHED:COMPLETED":
        return "Succeeded"
    if status == "FINISHED:ABNORMAL" and s.total_rounds and rounds_done >= s.total_rounds:
        # NVFlare 2.9 marks a job ABNORMAL when a site's job process vanished (its pod was replaced)
        # even though the server ran every round with enough results (spec.faultTolerance): the training
        # is complete and the model saved, so it counts as Succeeded; the condition keeps NVFlare's word.
        return "Succeeded"
    if status == "FINISHED:ABORTED":
        return "Aborted"
    if status.startswith("FINISHED"):
        return "Failed"
    if status == "RUNNING":
        return "Running"
    return "Submitted"


@dataclass(frozen=True)
class _Observed:
    """A snapshot with the phase and rounds already decided: what the checks judge."""

    snap: JobSnapshot
    phase: JobPhase


def check_spec(o: _Observed) -> Condition:
    if o.snap.spec_error:
        return condition("SpecValid", FALSE, "InvalidSpec", o.snap.spec_error)
    return condition("SpecValid", TRUE, "SpecValid")


def check_submitted(o: _Observed) -> Condition:
    s = o.snap
    if s.job_id is not None:
        return condition("Submitted", TRUE, "Submitted", f"NVFlare job {s.job_id}")
    if s.submit_error:
        return condition("Submitted", FALSE, "SubmitFailed", s.submit_error)
    return condition("Submitted", FALSE, "WaitingForProject", s.project_message or "project not Ready")


def check_complete(o: _Observed) -> Condition:
    s, phase = o.snap, o.phase
    finished = phase in TERMINAL_JOB_PHASES
    lost = phase == "Succeeded" and s.nvflare_status == "FINISHED:ABNORMAL"
    message = f"NVFlare status {s.nvflare_status}" if s.nvflare_status else ""
    if lost:
        message += "; every round completed, a site's job process was lost (see docs/fault-tolerance.md)"
    if phase == "Failed" and s.failure:
        message += "; first errors:\n" + s.failure
    reason = "CompletedWithLostSite" if lost else (phase if finished else "InProgress")
    return condition("Complete", TRUE if phase == "Succeeded" else FALSE, reason, message)


CHECKS = (check_spec, check_submitted, check_complete)


def job_status(s: JobSnapshot, previous: FLJobStatus | None, now: str | None = None) -> FLJobStatus:
    previous = previous or FLJobStatus()
    rounds_done = s.rounds_done
    if rounds_done is None:
        rounds_done = previous.round or 0  # a finished job keeps its last observed round
    phase = job_phase(s, rounds_done)
    if phase == "Succeeded":
        rounds_done = s.total_rounds  # NVFlare ran every round (early stopping is not configured)
    metrics = dict(s.metrics) if s.metrics else dict(previous.metrics)
    metric = metrics.get(KEY_METRIC)
    return FLJobStatus(
        phase=phase,
        observed_generation=s.generation,
        job_id=s.job_id,
        start_time=s.start_time or previous.start_time,
        nvflare_status=s.nvflare_status,
        round=rounds_done,
        rounds=s.total_rounds,
        round_summary=f"{rounds_done}/{s.total_rounds}",
        metrics=metrics,
        metric=f"{metric:.4f}" if isinstance(metric, int | float) else "",
        sites=_sites(s, previous),
        message=(s.failure[:32768] if s.failure else previous.message),
        conditions=merge(previous.conditions, run_chain(_Observed(s, phase), CHECKS), s.generation, now),
    )


def is_terminal(phase: str | None) -> bool:
    return phase in TERMINAL_JOB_PHASES
