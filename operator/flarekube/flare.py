"""The one place that talks to a running federation through NVFlare's Flare API (admin kit, mTLS).

Used by `flarekube run` and by the operator alike. Every call is bounded in time: the Flare API's
own `monitor_job` waits forever unless told otherwise.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvflare.fuel.flare_api.flare_api import Session, new_secure_session

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


@contextlib.contextmanager
def session(admin_kit: Path, username: str, timeout: float = 60.0) -> Iterator[Session]:
    sess = connect(admin_kit, username, timeout)
    try:
        yield sess
    finally:
        sess.close()


def connected_sites(sess: Session) -> set[str]:
    return {info.name for info in sess.get_connected_client_list()}


def submit(sess: Session, job_folder: Path) -> str:
    return str(sess.submit_job(str(job_folder)))


def job_state(sess: Session, job_id: str) -> JobState:
    meta = sess.get_job_meta(job_id) or {}
    return JobState(job_id=job_id, status=str(meta.get("status", "UNKNOWN")), meta=dict(meta))


def abort(sess: Session, job_id: str) -> None:
    sess.abort_job(job_id)


def download_result(sess: Session, job_id: str) -> Path:
    """Download the job's server workspace; NVFlare puts it under <admin kit>/transfer/<job id>."""
    return Path(sess.download_job_result(job_id))


def global_model_path(result_dir: Path) -> Path | None:
    """Where the FedAvg persistor leaves the final global model inside a downloaded result."""
    for candidate in (
        result_dir / "workspace" / "app_server" / "FL_global_model.pt",
        result_dir / "app_server" / "FL_global_model.pt",
    ):
        if candidate.is_file():
            return candidate
    found = sorted(result_dir.rglob("FL_global_model.pt"))
    return found[0] if found else None
