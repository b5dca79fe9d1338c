"""A detached `flarekube run` (`run --detach`): its supervisor process and the record it keeps.

The supervisor is `flarekube run` itself, started in a session of its own (no terminal: closing it, or
Ctrl-C there, does not reach it). It is the parent of the federation, so the foreground guarantees hold
unchanged: SIGTERM, SIGHUP and SIGINT stop everything it started; SIGKILL leaves the watchdog
(watchdog.py) to kill everything under the run folder. What it is doing is recorded in
`<workspace>/detached/state.json` (0700 folder, 0600 file; pids, paths and progress — never a key), which
`flarekube status`, `logs` and `stop` read. Only the supervisor writes the record after it started.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from flarekube.local.watchdog import GRACE_SECONDS, under
from flarekube.local.workspace import Workspace, state_dir

FOLDER = "detached"
FORMAT = 1
ACTIVE = ("starting", "running")  # states of a supervisor that has not finished yet
PID_CLOCK_SLACK = 1.0  # seconds: a pid whose process started later than recorded is a reused pid


def folder(ws: Workspace) -> Path:
    return ws.root / FOLDER


def state_file(ws: Workspace) -> Path:
    return folder(ws) / "state.json"


def supervisor_log(ws: Workspace) -> Path:
    return folder(ws) / "supervisor.log"


def _private_dirs(ws: Workspace) -> None:
    for path in (ws.root, folder(ws)):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)


def read_state(ws: Workspace) -> dict[str, Any] | None:
    """The recorded state; None when there is none or it cannot be read (a half-written one is replaced whole)."""
    try:
        data = json.loads(state_file(ws).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def write_state(ws: Workspace, data: dict[str, Any]) -> None:
    _private_dirs(ws)
    target = state_file(ws)
    tmp = target.with_name(f".state.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, default=str)
    tmp.replace(target)  # readers see the old record or the new one, never half of one


def update_state(ws: Workspace, **changes: Any) -> None:
    data = read_state(ws) or {"format": FORMAT}
    data.update(changes)
    write_state(ws, data)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def begin(ws: Workspace, *, project: str, project_name: str, jobs: list[str], rounds: dict[str, int],
          participants: list[str], out: Path, files: list[str]) -> None:  # fmt: skip
    """Called by the supervisor itself, first thing: who it is and where everything will be."""
    me = psutil.Process()
    write_state(ws, {
        "format": FORMAT, "state": "running", "pid": me.pid, "pidStarted": me.create_time(),
        "started": _now(), "finished": None, "exitCode": None, "message": None,
        "project": project, "projectName": project_name, "jobs": jobs, "rounds": rounds,
        "workspace": str(ws.root), "out": str(out), "files": files,
        "supervisorLog": str(supervisor_log(ws)),
        "logs": {name: str(ws.logs / f"{name}.log") for name in participants},
        "progress": {"phase": "starting"},
    })  # fmt: skip


def report(ws: Workspace, progress: dict[str, Any]) -> None:
    """The runner's progress (phase, job, round, sites), merged into the record."""
    data = read_state(ws)
    if data is None:
        return
    data["progress"] = {**(data.get("progress") or {}), **progress}
    write_state(ws, data)


def finish(ws: Workspace, code: int) -> None:
    """The supervisor's exit code; the last line of its log says why when it is not 0."""
    data = read_state(ws)
    if data is None:
        return
    state = "finished" if code == 0 else "stopped" if code > 128 else "failed"
    message = None if code == 0 else error_of(supervisor_log(ws))
    data.update(state=state, exitCode=code, finished=_now(), message=message)
    write_state(ws, data)


def error_of(path: Path, limit: int = 2000) -> str | None:
    """Why the supervisor failed: its log from the last `error:` line on (else the last line), bounded."""
    lines = tail(path, 200)
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    text = "\n".join(lines[starts[-1]:] if starts else lines[-1:])
    return text[:limit] or None


def alive(data: dict[str, Any]) -> bool:
    """Whether the recorded supervisor still runs (the same process: a reused pid started later)."""
    try:
        proc = psutil.Process(int(data["pid"]))
        started = proc.create_time()
        return proc.status() != psutil.STATUS_ZOMBIE and started <= float(data["pidStarted"]) + PID_CLOCK_SLACK
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def effective(data: dict[str, Any]) -> tuple[str, str | None]:
    """(state, why): a record that says running but whose supervisor is gone was killed outright."""
    state = str(data.get("state", "unknown"))
    if state in ACTIVE and not alive(data):
        return "failed", f"the supervisor (pid {data.get('pid')}) is gone without recording an end (killed?)"
    return state, data.get("message")


def recorded() -> list[Workspace]:
    """Every workspace under the default state folder that has a detached run recorded."""
    root = state_dir()
    with contextlib.suppress(OSError):
        return [Workspace(p) for p in sorted(root.iterdir()) if (p / FOLDER / "state.json").is_file()]
    return []


def spawn(argv: list[str], ws: Workspace) -> subprocess.Popen[bytes]:
    """Start the supervisor: its own session, no terminal, stdout and stderr into its log."""
    _private_dirs(ws)
    state_file(ws).unlink(missing_ok=True)  # the caller checked that no supervisor runs
    log = supervisor_log(ws)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flarekube", *argv],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def wait_started(ws: Workspace, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
    """The record once the supervisor has checked the data (or None if it exited or took too long)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = read_state(ws)
        if data is not None and data.get("pid") == proc.pid and data["progress"].get("phase") != "starting":
            return data
        if proc.poll() is not None:
            return None
        time.sleep(0.2)
    return None


def stop(data: dict[str, Any], timeout: float) -> bool:
    """SIGTERM the supervisor (it stops the federation itself) and wait; SIGKILL after `timeout` (its
    watchdog then kills what is left). True once it and every process under its run folder are gone."""
    pid = int(data["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _gone_within(data, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _gone_within(data, 10.0):
            return False
    run = str((Path(data["workspace"]) / "run").resolve())
    deadline = time.monotonic() + 3 * GRACE_SECONDS
    while under(run):  # after a SIGKILL the watchdog is still sweeping
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _gone_within(data: dict[str, Any], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(data):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a file, read in one pass with bounded memory."""
    try:
        with path.open(errors="replace") as f:
            return [line.rstrip("\n") for line in deque(f, maxlen=max(lines, 0))]
    except OSError:
        return []


def follow(path: Path, lines: int, running: Callable[[], bool], poll: float = 0.5) -> Iterator[str]:
    """The last `lines` lines, then every line appended while `running()` holds (like `tail -f`)."""
    with path.open(errors="replace") as f:
        yield from (line.rstrip("\n") for line in deque(f, maxlen=max(lines, 0)))
        partial = ""
        while True:
            chunk = f.read()
            if chunk:
                *complete, partial = (partial + chunk).split("\n")
                yield from complete
                continue
            if not running():
                if partial:
                    yield partial
                return
            time.sleep(poll)
