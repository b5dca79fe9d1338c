"""The homes issue 8 gave a question each: Event types from conditions, the FLJob chain, the workload
registry, the Flare session pool (its admin kit goes with it)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from flarekube import flare
from flarekube.api import FLJob, parse_document
from flarekube.api.status import FLProjectStatus
from flarekube.api.validation import site_files
from flarekube.builders.workloads import WORKLOADS, workload
from flarekube.status.conditions import transitions
from flarekube.status.job import JobSnapshot, job_status
from flarekube.status.project import ProjectSnapshot, SiteObservation, project_status

FAR = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)


def _project(*connected: bool, **kw: Any) -> FLProjectStatus:
    sites = tuple(SiteObservation(f"site-{i}", True, "Running", True, c) for i, c in enumerate(connected))
    base: dict[str, Any] = dict(generation=1, server_endpoint="s:8002", sites=sites, ca_fingerprint="ab" * 32,
                                server_ready=True, flare_polled=True,
                                cert_expiry={"s": FAR})  # fmt: skip
    base.update(kw)
    return project_status(ProjectSnapshot(**base), None, "2026-01-01T00:00:00Z")


def test_event_type_comes_from_the_condition() -> None:
    fresh = _project(False, kits_missing=("site-0",), flare_polled=False)
    assert {t.type for t in transitions(None, fresh)} == {"Normal"}  # a new project making progress
    ready = _project(True, True)
    lost = _project(True, False)
    by_reason = {t.reason: t.type for t in transitions(ready, lost)}
    assert by_reason["SitesMissing"] == "Warning" and by_reason["Phase"] == "Warning"  # Degraded
    invalid = _project(spec_error="spec.x: bad")
    assert {t.reason: t.type for t in transitions(None, invalid)}["InvalidSpec"] == "Warning"
    assert [t.type for t in transitions(lost, ready) if t.reason == "AllSitesConnected"] == ["Normal"]


def test_the_job_chain_waits_on_submission() -> None:
    pending = job_status(JobSnapshot(1, 3, project_message="1/3 sites connected"), None, "2026-01-01T00:00:00Z")
    by_type = {c.type: c for c in pending.conditions}
    assert [c.type for c in pending.conditions] == ["SpecValid", "Submitted", "Complete"]
    assert by_type["Submitted"].status == "False" and by_type["Complete"].status == "Unknown"
    assert "waiting for Submitted" in str(by_type["Complete"].message)
    assert pending.phase == "Pending" and pending.wire()["roundSummary"] == "0/3"


def _job(kind: str, data: dict[str, Any] | None = None) -> FLJob:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": "j"},
           "spec": {"projectRef": "p", "workload": {"kind": kind}, "rounds": 1, "data": data or {}}}  # fmt: skip
    job = parse_document(doc)
    assert isinstance(job, FLJob)
    return job


def test_one_registry_row_per_builtin_workload_and_defaults_filled_once() -> None:
    assert set(WORKLOADS) == {"clinical-tabular", "chest-xray-cnn"} and workload("jobFolder") is None
    tabular = WORKLOADS["clinical-tabular"]
    assert tabular.model(_job("clinical-tabular"), 17)["args"] == {"n_features": 17, "init_seed": 0}  # from the data
    assert tabular.model(_job("clinical-tabular"), None)["args"] == {"init_seed": 0}  # unseen width: the default
    job = _job("clinical-tabular", {"site-2": {"test": "holdout.csv"}})
    assert site_files(job, "site-1", tabular).model_dump() == {"train": "site-1.csv", "test": "site-1_test.csv"}
    assert site_files(job, "site-2", tabular).model_dump() == {"train": "site-2.csv", "test": "holdout.csv"}
    assert site_files(_job("chest-xray-cnn"), "site-1", WORKLOADS["chest-xray-cnn"]).model_dump() == {
        "train": None, "test": None}  # fmt: skip


class _FakeSession:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_dropping_a_session_deletes_its_admin_kit(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[_FakeSession] = []

    def connect(kit: Path, username: str, timeout: float = 0) -> _FakeSession:
        assert (kit / "startup" / "client.key").is_file()
        opened.append(_FakeSession())
        return opened[-1]

    def write_kit(dest: Path) -> Path:
        (dest / "startup").mkdir(parents=True)
        (dest / "startup" / "client.key").write_text("PRIVATE")
        return dest

    monkeypatch.setattr(flare, "connect", connect)
    pool = flare.SessionPool()
    with pool.session(("ns", "crc"), "fp1", "admin@x", write_kit) as sess:
        folder = next(iter(pool._held.values())).folder.name
        assert sess is opened[0] and Path(folder).is_dir()
    with pool.session(("ns", "crc"), "fp1", "admin@x", write_kit):
        pass
    assert len(opened) == 1  # reused
    with pool.session(("ns", "crc"), "fp2", "admin@x", write_kit):
        pass
    assert len(opened) == 2 and opened[0].closed and not Path(folder).exists()  # a new CA: a new session
    folder = next(iter(pool._held.values())).folder.name
    assert pool.drop(("ns", "crc")) and opened[1].closed and not Path(folder).exists()
    assert not pool.drop(("ns", "crc"))
    with pytest.raises(RuntimeError), pool.session(("ns", "crc"), "fp2", "admin@x", write_kit):
        raise RuntimeError("a failed call")
    assert ("ns", "crc") not in pool  # an error drops the session: the next call reconnects


def test_the_job_status_says_which_policy_each_site_applied_and_who_refused() -> None:
    snap = JobSnapshot(1, 3, job_id="j", nvflare_status="RUNNING", rounds_done=1,
                       site_policies={"site-1": "aa" * 8, "site-2": "bb" * 8},
                       refusals={"site-2": "BYOC not allowed " + "x" * 5000})  # fmt: skip
    running = job_status(snap, None, "2026-01-01T00:00:00Z")
    assert [s.name for s in running.sites] == ["site-1", "site-2"]
    assert running.sites[0].policy == "aa" * 8 and running.sites[0].refused is None
    refused = running.sites[1].refused
    assert refused is not None and refused.startswith("BYOC") and len(refused) == 1024  # bounded
    # A finished job has no server to ask: what was observed stays.
    done = job_status(JobSnapshot(1, 3, job_id="j", nvflare_status="FINISHED:COMPLETED"), running, None)
    assert done.sites == running.sites
