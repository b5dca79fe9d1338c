"""The one place that talks to a running federation through NVFlare's Flare API (admin kit, mTLS).

Used by `flarekube run` and by the operator alike: connect, submit (with a token, so a retried submit
gets the same job back), job state and progress, connected sites, abort, download. Every call is
bounded in time: sessions are opened with a timeout that each command inherits, and nothing here uses
the Flare API's own `monitor_job`, which waits forever unless told otherwise. `SessionPool` keeps one
admin session per federation for the operator; dropping it deletes the admin kit it was opened with.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flarekube_workloads.contract import STATS_GROUP
from nvflare.fuel.flare_api.flare_api import Session, new_secure_session

log = logging.getLogger(__name__)

TERMINAL_PREFIX = "FINISHED"
SUCCESS = "FINISHED:COMPLETED"


class FederationUnavailable(RuntimeError):
    """The server did not answer the admin client in time."""


@dataclass(frozen=True)
class JobState:
    job_id: str
    status: str  # NVFlare's RunStatus value, e.g. RUNNING, FINISHED:COMPLETED
    meta: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status.startswith(TERMINAL_PREFIX)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS


def connect(admin_kit: Path, username: str, timeout: float = 60.0) -> Session:
    """Open an admin session, retrying until the server accepts it or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            # NVFlare prints "Connecting to FLARE ..." on stdout; keep the CLI's output ours.
            with contextlib.redirect_stdout(io.StringIO()):
                return new_secure_session(username, str(admin_kit), timeout=min(10.0, timeout))
        except Exception as err:  # the Flare API raises bare Exceptions while the server starts
            last = err
            time.sleep(1.0)
    raise FederationUnavailable(
        f"the NVFlare server did not accept the admin session in {timeout:.0f}s: {last}"
    )


def connected_sites(sess: Session) -> set[str]:
    return {info.name for info in sess.get_connected_client_list()}


def submit(sess: Session, job_folder: Path, token: str | None = None) -> str:
    """Submit a job folder; with a token, submitting the same folder again returns the same job id."""
    if token is None:
        return str(sess.submit_job(str(job_folder)))
    return str(sess.submit_job(str(job_folder), submit_token=token))


@dataclass(frozen=True)
class JobProgress:
    """What the server reports under STATS_GROUP: flarekube's FedAvg, or the RoundProgress component
    flarekube adds to a user's job (rounds from the workflow's events, what sites log through NVFlare's
    tracking API in `site_metrics`)."""

    rounds_done: int
    total_rounds: int | None
    finished: bool
    metrics: dict[str, float]
    site_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _numbers(values: Any) -> dict[str, float]:
    items = values.items() if isinstance(values, dict) else ()
    return {str(k): float(v) for k, v in items if isinstance(v, int | float) and not isinstance(v, bool)}


def job_progress(sess: Session, job_id: str) -> JobProgress | None:
    """The job's progress from its server; None when it reports none or is not running."""
    try:
        stats = sess.show_stats(job_id, "server")
    except Exception:  # not running (yet or any more): nothing to ask
        return None
    groups = (stats or {}).get("server") or {}
    info = groups.get(STATS_GROUP) if isinstance(groups, dict) else None
    if not isinstance(info, dict):
        return _scatter_and_gather(groups)
    total = int(info["num_rounds"]) if isinstance(info.get("num_rounds"), int) else None
    rounds = int(info.get("rounds_done") or 0)
    finished = bool(info.get("finished"))
    if finished and total is not None:
        rounds = max(rounds, total)
    sites = info.get("site_metrics")
    sites = sites if isinstance(sites, dict) else {}
    return JobProgress(rounds, total, finished, _numbers(info.get("metrics")),
                       {str(site): _numbers(tags) for site, tags in sites.items()})  # fmt: skip


def _scatter_and_gather(groups: Any) -> JobProgress | None:
    """NVFlare's ScatterAndGather answers show_stats itself, under its component id: phase, current_round
    (the round in progress), num_rounds. A job run without flarekube's RoundProgress still shows rounds."""
    for info in groups.values() if isinstance(groups, dict) else ():
        if isinstance(info, dict) and isinstance(info.get("current_round"), int) and "num_rounds" in info:
            total = info["num_rounds"] if isinstance(info["num_rounds"], int) else None
            finished = info.get("phase") == "_finished_"  # AppConstants.PHASE_FINISHED
            done = total if finished and total is not None else int(info["current_round"])
            return JobProgress(done, total, finished, {})
    return None


def job_state(sess: Session, job_id: str) -> JobState:
    meta = sess.get_job_meta(job_id) or {}
    return JobState(job_id=job_id, status=str(meta.get("status", "UNKNOWN")), meta=dict(meta))


def refusals(meta: dict[str, Any]) -> dict[str, str]:
    """Sites that refused to deploy the job (their site policy, e.g. no custom code), with NVFlare's reason.

    The server records each site's deployment reply in the job's meta (`job_deploy_detail`, entries
    "site: OK" or "site: <reason>"); a job keeps running on the others while min_clients are left."""
    out: dict[str, str] = {}
    for entry in meta.get("job_deploy_detail") or []:
        site, sep, reply = str(entry).partition(": ")
        if sep and reply != "OK" and " " not in site:
            out[site] = reply
    return out


def abort(sess: Session, job_id: str) -> None:
    sess.abort_job(job_id)


def download_result(sess: Session, job_id: str) -> Path:
    """Download the job's server workspace; NVFlare puts it under <admin kit>/transfer/<job id>."""
    return Path(sess.download_job_result(job_id))


@dataclass
class _Held:
    fingerprint: str
    session: Session
    folder: tempfile.TemporaryDirectory[str]
    lock: threading.Lock


class SessionPool:
    """One live admin session per federation, re-opened only when a call on it fails or its kit changed.

    Opening a session costs a TLS handshake and a login. The admin kit (it holds the admin's private key)
    is written by `write_kit` into a private 0700 temp dir that lives exactly as long as the session."""

    def __init__(self) -> None:
        self._held: dict[Hashable, _Held] = {}
        self._guard = threading.Lock()

    def _open(self, fingerprint: str, username: str, write_kit: Callable[[Path], Path], timeout: float) -> _Held:
        folder = tempfile.TemporaryDirectory(prefix="flarekube-admin-")
        try:
            sess = connect(write_kit(Path(folder.name) / "admin"), username, timeout=timeout)
        except Exception:
            folder.cleanup()
            raise
        return _Held(fingerprint, sess, folder, threading.Lock())

    def drop(self, key: Hashable) -> bool:
        """Close the federation's session and delete its admin kit; False when there was none."""
        with self._guard:
            held = self._held.pop(key, None)
        if held is None:
            return False
        with contextlib.suppress(Exception):
            held.session.close()
        held.folder.cleanup()
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._held

    @contextlib.contextmanager
    def session(self, key: Hashable, fingerprint: str, username: str, write_kit: Callable[[Path], Path],
                timeout: float = 15.0) -> Iterator[Session]:  # fmt: skip
        """A live session for `key`; any error inside drops it so the next call reconnects."""
        with self._guard:
            held = self._held.get(key)
        if held is not None and held.fingerprint != fingerprint:
            self.drop(key)  # the kit changed (new CA): the old session speaks for the old identity
            held = None
        if held is None:
            held = self._open(fingerprint, username, write_kit, timeout)
            with self._guard:
                self._held[key] = held
        try:
            with held.lock:
                yield held.session
        except Exception:
            self.drop(key)
            raise
