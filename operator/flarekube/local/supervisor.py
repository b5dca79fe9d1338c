"""Start NVFlare participants as local process groups and make sure none outlives us.

Each participant runs its kit's own `startup/sub_start.sh --once` (exec, no restart loop) in a new
session, so stopping it means signalling one process group; `stop_all` runs on normal exit,
on errors and on Ctrl-C (the caller holds the Supervisor as a context manager).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


@dataclass
class Participant:
    name: str
    workspace: Path
    log: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log written)"
        return "\n".join(text[-lines:]) or "(log is empty)"


@dataclass
class Supervisor:
    """Owns every process it starts; `stop_all` is idempotent."""

    stop_timeout: float = 10.0
    participants: dict[str, Participant] = field(default_factory=dict)

    def start(
        self, name: str, workspace: Path, log: Path, env: Mapping[str, str] | None = None
    ) -> Participant:
        script = workspace / "startup" / "sub_start.sh"
        if not script.is_file():
            raise FileNotFoundError(f"{name}: no startup kit at {workspace} (missing startup/sub_start.sh)")
        child_env = dict(os.environ)
        # sub_start.sh runs `python3 -m nvflare...`: make that the interpreter running flarekube.
        child_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{child_env.get('PATH', '')}"
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            process = subprocess.Popen(
                ["bash", str(script), "--once"],
                cwd=workspace,
                env=child_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: one signal reaches all its children
            )
        participant = Participant(name, workspace, log, process)
        self.participants[name] = participant
        return participant

    def dead(self) -> list[Participant]:
        return [p for p in self.participants.values() if not p.alive()]

    def stop(self, name: str) -> None:
        participant = self.participants.pop(name, None)
        if participant is not None:
            _stop_group(participant.process, self.stop_timeout)

    def stop_all(self) -> None:
        for name in list(self.participants)[::-1]:  # sites before the server
            self.stop(name)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Ctrl-C arriving again while we clean up must not leave orphans behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)


def _stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        process.poll()
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.1)
    process.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
