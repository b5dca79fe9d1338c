"""What every handler does at its end: write status only when it changed, post Events for changes."""

from __future__ import annotations

from collections.abc import Callable

import kopf

from flarekube import metrics
from flarekube.api.errors import SpecProblem
from flarekube.api.status import JOB_PHASES, FLJobStatus, FLProjectStatus, StatusModel
from flarekube.controller import project as projects
from flarekube.kube.config import ApiException
from flarekube.status.conditions import transitions, without_times


def write_status(body: kopf.Body, patch: kopf.Patch, new: StatusModel) -> None:
    stored = dict(body.get("status") or {})
    wire = new.wire()
    if without_times(stored) == without_times({**stored, **wire}):
        return  # unchanged: no write, no resourceVersion bump, no watch event
    patch.status.update(wire)
    try:
        old: StatusModel | None = type(new).model_validate(stored)
    except ValueError:
        old = None  # a stored status of another shape: every condition counts as new
    for t in transitions(old, new):
        kopf.event(body, type=t.type, reason=t.reason, message=t.message[:1000])


def guarded(body: kopf.Body, patch: kopf.Patch, work: Callable[[], StatusModel],
            on_problem: Callable[[str], StatusModel], permanent: bool = True) -> None:  # fmt: skip
    """Run `work`; a spec problem is written to status and raised as PermanentError (retrying won't fix it).
    Timers pass permanent=False: they keep polling, so a corrected spec is picked up without a restart."""
    kind = str(body.get("kind", "unknown"))
    try:
        with metrics.RECONCILE_SECONDS.labels(kind).time():
            status = work()
    except SpecProblem as problem:
        metrics.RECONCILE_ERRORS.labels(kind).inc()
        write_status(body, patch, on_problem(str(problem)))
        if permanent:
            raise kopf.PermanentError(str(problem)) from None
        return
    except ApiException as err:
        metrics.RECONCILE_ERRORS.labels(kind).inc()
        raise kopf.TemporaryError(f"API server: {err.status} {err.reason}", delay=5) from None
    except FileExistsError as err:  # another writer stored a kit first: re-read and go on
        raise kopf.TemporaryError(str(err), delay=1) from None
    except Exception as err:
        # Typically the Flare API under load (timeouts, a restarting server): retry soon, not after
        # kopf's default 60 s back-off, which would miss a whole short job.
        metrics.RECONCILE_ERRORS.labels(kind).inc()
        raise kopf.TemporaryError(f"{type(err).__name__}: {err}"[:500], delay=5) from err
    write_status(body, patch, status)
    record(body, status)


def record(body: kopf.Body, status: StatusModel) -> None:
    """Gauges from the status just computed (never counted up: a restarted operator reports the same)."""
    meta = body.get("metadata") or {}
    name, ns = str(meta.get("name")), str(meta.get("namespace"))
    if isinstance(status, FLProjectStatus):
        metrics.SITES_CONNECTED.labels(name, ns).set(status.sites_connected or 0)
        metrics.SITES_TOTAL.labels(name, ns).set(status.sites_total or 0)
        metrics.PROJECT_READY.labels(name, ns).set(1 if status.phase == "Ready" else 0)
        report = projects.last_report(ns, name)
        if report is not None:
            days = int(((body.get("spec") or {}).get("certificates") or {}).get("renewBeforeDays", 30))
            metrics.record_certificates(name, ns, report.ledger, report.ca_expires, days, bool(report.renewed))
        return
    assert isinstance(status, FLJobStatus)
    project = str((body.get("spec") or {}).get("projectRef"))
    metrics.JOB_ROUND.labels(name, project).set(status.round or 0)
    metrics.JOB_ROUNDS_TOTAL.labels(name, project).set(status.rounds or 0)
    for key, value in status.metrics.items():
        metrics.JOB_METRIC.labels(name, key).set(value)
    for phase in JOB_PHASES:
        metrics.JOB_PHASE.labels(name, project, phase).set(1 if status.phase == phase else 0)
