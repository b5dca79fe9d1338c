"""FLJob status from what was observed: the project's readiness, NVFlare's job status and progress.

Phases: Pending -> Submitted -> Running -> Succeeded | Failed | Aborted. ROUND ("7/10") and METRIC come
from the server's FaultTolerantFedAvg (show_stats); once NVFlare reports the job finished, the last
progress that was observed is kept (a finished job has no controller left to ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flarekube.status.conditions import FALSE, TRUE, Condition, clean, merge

KEY_METRIC = "val_auc"
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


def job_phase(s: JobSnapshot, rounds_done: int = 0) -> str:
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


def _conditions(s: JobSnapshot, phase: str) -> list[Condition]:
    if s.spec_error:
        valid = Condition("SpecValid", FALSE, "InvalidSpec", s.spec_error)
    else:
        valid = Condition("SpecValid", TRUE, "SpecValid")
    if s.job_id is not None:
        submitted = Condition("Submitted", TRUE, "Submitted", f"NVFlare job {s.job_id}")
    elif s.submit_error:
        submitted = Condition("Submitted", FALSE, "SubmitFailed", s.submit_error)
    else:
        submitted = Condition("Submitted", FALSE, "WaitingForProject", s.project_message or "project not Ready")
    finished = phase in ("Succeeded", "Failed", "Aborted")
    lost = phase == "Succeeded" and s.nvflare_status == "FINISHED:ABNORMAL"
    message = f"NVFlare status {s.nvflare_status}" if s.nvflare_status else ""
    if lost:
        message += "; every round completed, a site's job process was lost (see docs/fault-tolerance.md)"
    reason = "CompletedWithLostSite" if lost else (phase if finished else "InProgress")
    complete = Condition("Complete", TRUE if phase == "Succeeded" else FALSE, reason, message)
    return [valid, submitted, complete]


def job_status(s: JobSnapshot, previous: Mapping[str, Any] | None, now: str | None = None) -> dict[str, Any]:
    previous = previous or {}
    rounds_done = s.rounds_done
    if rounds_done is None:
        rounds_done = int(previous.get("round") or 0)  # a finished job keeps its last observed round
    phase = job_phase(s, rounds_done)
    if phase == "Succeeded":
        rounds_done = s.total_rounds  # NVFlare ran every round (early stopping is not configured)
    metrics = dict(s.metrics) if s.metrics else dict(previous.get("metrics") or {})
    metric = metrics.get(KEY_METRIC)
    status = {
        "phase": phase,
        "observedGeneration": s.generation,
        "jobId": s.job_id,
        "nvflareStatus": s.nvflare_status,
        "round": rounds_done,
        "rounds": s.total_rounds,
        "roundSummary": f"{rounds_done}/{s.total_rounds}",
        "metrics": metrics,
        "metric": f"{metric:.4f}" if isinstance(metric, int | float) else "",
        "conditions": merge(previous.get("conditions"), _conditions(s, phase), s.generation, now),
    }
    return dict(clean(status))


def is_terminal(phase: str) -> bool:
    return phase in ("Succeeded", "Failed", "Aborted")
