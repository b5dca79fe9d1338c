"""Start NVFlare participants as local process groups and make sure none outlives us.

Each participant runs its kit's own `startup/sub_start.sh --once` (exec, no restart loop) in a new
session, so stopping it means signalling one process group; `stop_all` runs on normal exit,
on errors and on Ctrl-C (the caller holds the Supervisor as a context manager).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil


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
    """SIGTERM the participant's process group, then SIGKILL what is left of its whole process tree.

    NVFlare runs each job in a child process that may start its own session, out of reach of the
    group signal: the tree is listed first, so those are found too.
    """
    try:
        pgid = os.getpgid(process.pid)
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except (ProcessLookupError, psutil.NoSuchProcess):
        process.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(alive, timeout=5.0)
    process.poll()
