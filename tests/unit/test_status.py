"""Pure status: observed snapshots -> conditions, phase, printer-column fields."""

from __future__ import annotations

import datetime
from typing import Any

from flarekube.api.status import FLJobStatus, FLProjectStatus
from flarekube.status import job as job_module
from flarekube.status import project as project_module
from flarekube.status.conditions import transitions, without_times
from flarekube.status.job import JobSnapshot, job_phase
from flarekube.status.project import ProjectSnapshot, SiteObservation

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
EXPIRES = datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
CHECKED = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def project_status(s: ProjectSnapshot, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The typed status in its wire form (what the API server stores), from and to what is stored."""
    before = FLProjectStatus.model_validate(previous) if previous is not None else None
    return project_module.project_status(s, before, now).wire()


def job_status(s: JobSnapshot, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    before = FLJobStatus.model_validate(previous) if previous is not None else None
    return job_module.job_status(s, before, now).wire()


def sites(*connected: bool) -> tuple[SiteObservation, ...]:
    return tuple(SiteObservation(f"site-{i + 1}", True, "Running", True, c, EXPIRES) for i, c in enumerate(connected))


def snap(**kw: object) -> ProjectSnapshot:
    base: dict[str, object] = dict(generation=3, server_endpoint="crc-server.fl.svc.cluster.local:8002",
                                   sites=sites(True, True, True), ca_fingerprint="ab" * 32, ca_expires=EXPIRES,
                                   server_ready=True, flare_polled=True, checked_at=CHECKED,
                                   cert_expiry={"server": EXPIRES, "site-1": EXPIRES - DAY * 9,
                                                "site-2": EXPIRES, "site-3": EXPIRES})  # fmt: skip
    base.update(kw)
    return ProjectSnapshot(**base)  # type: ignore[arg-type]


def conds(status: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_all_good_is_ready_with_3_of_3() -> None:
    st = project_status(snap(), None, T0)
    assert st["phase"] == "Ready" and st["sitesSummary"] == "3/3" and st["observedGeneration"] == 3
    assert conds(st) == {"KitsIssued": ("True", "KitsIssued"), "CertificatesValid": ("True", "CertificatesValid"),
                         "ServerReady": ("True", "ServerReady"),
                         "SitesConnected": ("True", "AllSitesConnected"), "Ready": ("True", "AllConditionsMet")}
    assert st["caExpires"] == "2027-01-01T00:00:00Z"
    assert st["sites"][0] == {"name": "site-1", "connected": True, "podPhase": "Running",
                              "certExpires": "2027-01-01T00:00:00Z"}  # fmt: skip


def test_chain_order_missing_kits_blocks_later_checks() -> None:
    st = project_status(snap(kits_missing=("site-3",), server_ready=False, flare_polled=False), None, T0)
    c = conds(st)
    assert c["KitsIssued"] == ("False", "KitsMissing")
    assert c["ServerReady"][0] == "Unknown" and c["SitesConnected"][0] == "Unknown"
    assert c["Ready"] == ("False", "KitsMissing") and st["phase"] == "Provisioning"


def test_server_not_ready_is_pending() -> None:
    st = project_status(snap(server_ready=False, server_pod_phase="Pending", sites=sites(False, False)), None, T0)
    assert st["phase"] == "Pending" and conds(st)["ServerReady"] == ("False", "ServerNotReady")
    assert st["sitesSummary"] == "0/2"


def test_a_lost_site_is_degraded_and_named() -> None:
    st = project_status(snap(sites=sites(True, False, True)), None, T0)
    assert st["phase"] == "Degraded" and st["sitesSummary"] == "2/3"
    sc = next(c for c in st["conditions"] if c["type"] == "SitesConnected")
    assert sc["reason"] == "SitesMissing" and "site-2" in sc["message"]


def test_spec_and_kit_errors_fail_with_the_message() -> None:
    st = project_status(snap(spec_error='spec.jobRuntime: "pod" is not supported'), None, T0)
    assert st["phase"] == "Failed" and conds(st)["KitsIssued"] == ("False", "InvalidSpec")
    st = project_status(snap(kit_error="server name changed; pass --reissue-kits"), None, T0)
    assert st["phase"] == "Failed" and conds(st)["Ready"][1] == "KitsRefused"


def test_admin_session_failure_is_reported() -> None:
    st = project_status(snap(flare_error="timeout"), None, T0)
    assert conds(st)["SitesConnected"] == ("False", "AdminSessionFailed")


def test_transition_time_moves_only_when_status_flips() -> None:
    first = project_status(snap(sites=sites(True, False)), None, T0)
    same = project_status(snap(sites=sites(True, False)), first, T1)
    assert same == first  # nothing changed -> the caller writes nothing
    flipped = project_status(snap(sites=sites(True, True)), first, T1)
    times = {c["type"]: c["lastTransitionTime"] for c in flipped["conditions"]}
    assert times["KitsIssued"] == T0 and times["SitesConnected"] == T1 and times["Ready"] == T1
    assert without_times(first) != without_times(flipped)
    reasons = [t.reason for t in transitions(FLProjectStatus.model_validate(first),
                                                  FLProjectStatus.model_validate(flipped))]
    assert reasons[0] == "Phase" and "AllSitesConnected" in reasons


def test_job_phases() -> None:
    def phase(**kw: object) -> str:
        return job_phase(JobSnapshot(generation=1, total_rounds=3, **kw))  # type: ignore[arg-type]

    assert phase() == "Pending"
    assert phase(job_id="j", nvflare_status="SUBMITTED") == "Submitted"
    assert phase(job_id="j", nvflare_status="DISPATCHED") == "Submitted"
    assert phase(job_id="j", nvflare_status="RUNNING") == "Running"
    assert phase(job_id="j", nvflare_status="FINISHED:COMPLETED") == "Succeeded"
    assert phase(job_id="j", nvflare_status="FINISHED:ABORTED") == "Aborted"
    assert phase(job_id="j", nvflare_status="FINISHED:EXECUTION_EXCEPTION") == "Failed"
    assert phase(spec_error="spec.projectRef: no") == "Failed"


def test_job_round_and_metric_columns() -> None:
    running = job_status(JobSnapshot(1, 10, job_id="j", nvflare_status="RUNNING", rounds_done=7,
                                     metrics={"val_auc": 0.81234, "train_loss": 0.3}), None, T0)  # fmt: skip
    assert running["roundSummary"] == "7/10" and running["round"] == 7
    assert running["metric"] == "0.8123" and running["phase"] == "Running"
    # Once finished there is no controller to ask: the last observed metric stays, rounds are complete.
    done = job_status(JobSnapshot(1, 10, job_id="j", nvflare_status="FINISHED:COMPLETED"), running, T1)
    assert done["roundSummary"] == "10/10" and done["metric"] == "0.8123" and done["phase"] == "Succeeded"
    complete = next(c for c in done["conditions"] if c["type"] == "Complete")
    assert complete["status"] == "True" and complete["lastTransitionTime"] == T1


def test_pending_job_says_what_it_waits_for() -> None:
    st = job_status(JobSnapshot(1, 3, project_message="2/3 sites connected, minSites is 3"), None, T0)
    sub = next(c for c in st["conditions"] if c["type"] == "Submitted")
    assert st["phase"] == "Pending" and sub["reason"] == "WaitingForProject" and "2/3" in sub["message"]
    assert st["roundSummary"] == "0/3" and st["metric"] == ""


def test_abnormal_after_every_round_is_a_success_that_says_so() -> None:
    running = job_status(JobSnapshot(1, 6, job_id="j", nvflare_status="RUNNING", rounds_done=6), None, T0)
    done = job_status(JobSnapshot(1, 6, job_id="j", nvflare_status="FINISHED:ABNORMAL"), running, T1)
    complete = next(c for c in done["conditions"] if c["type"] == "Complete")
    assert done["phase"] == "Succeeded" and complete["reason"] == "CompletedWithLostSite"
    short = job_status(JobSnapshot(1, 6, job_id="j", nvflare_status="RUNNING", rounds_done=5), None, T0)
    failed = job_status(JobSnapshot(1, 6, job_id="j", nvflare_status="FINISHED:ABNORMAL"), short, T1)
    assert failed["phase"] == "Failed" and failed["roundSummary"] == "5/6"


def test_certificates_valid_names_the_first_to_expire() -> None:
    status = project_status(snap(), None, T0)
    cond = next(c for c in status["conditions"] if c["type"] == "CertificatesValid")
    assert (cond["status"], cond["reason"]) == ("True", "CertificatesValid")
    assert cond["message"].startswith("first to expire: site-1 at 2026-12-23T00:00:00Z")
    assert status["certsExpire"] == "2026-12-23T00:00:00Z" and status["phase"] == "Ready"


def test_certificate_inside_its_renewal_window_is_pending() -> None:
    status = project_status(snap(checked_at=EXPIRES - DAY * 20), None, T0)
    assert conds(status)["CertificatesValid"] == ("True", "RenewalPending")


def test_an_expired_certificate_is_false_and_degrades_the_project() -> None:
    status = project_status(snap(checked_at=EXPIRES - DAY * 5), None, T0)
    assert conds(status)["CertificatesValid"] == ("False", "CertificateExpired")
    cond = next(c for c in status["conditions"] if c["type"] == "CertificatesValid")
    assert "site-1" in cond["message"] and "site-2" not in cond["message"]
    assert conds(status)["Ready"] == ("False", "CertificateExpired") and status["phase"] == "Degraded"
