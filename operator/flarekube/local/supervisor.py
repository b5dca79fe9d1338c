"""Start NVFlare participants as local process groups and make sure none outlives us.

Each participant runs its kit's own `startup/sub_start.sh --once` (exec, no restart loop) in a new
session, so stopping it means signalling one process group; `stop_all` runs on normal exit,
on errors and on Ctrl-C (the caller holds the Supervisor as a context manager).
"""

from __future__ import annotations

import contextlib
import ctypes
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


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when flarekube dies (Linux PR_SET_PDEATHSIG; survives exec)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Supervisor:
    """Owns every process it starts; `stop_all` is idempotent.

    With `watch` (the federation's run folder) a watchdog (watchdog.py) also guards the case where this
    process is killed outright: it then kills everything under that folder, job workers included.
    """

    stop_timeout: float = 10.0
    participants: dict[str, Participant] = field(default_factory=dict)
    watch: Path | None = None
    _watchdog: subprocess.Popen[bytes] | None = None
    _lifeline: int | None = None

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
                preexec_fn=_die_with_parent,
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
        if self.watch is not None:
            self.watch.mkdir(parents=True, exist_ok=True)
            read_end, self._lifeline = os.pipe()  # both non-inheritable: no participant holds the write end
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "flarekube.local.watchdog", str(self.watch)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # not reached by the terminal's Ctrl-C, nor by killpg of our group
            )  # fmt: skip
            os.close(read_end)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Ctrl-C, SIGTERM or SIGHUP arriving again while we clean up must not leave orphans behind.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
        try:
            self.stop_all()
            if self._lifeline is not None:
                os.close(self._lifeline)  # the watchdog sweeps once more (nothing should be left) and exits
                self._lifeline = None
            if self._watchdog is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(timeout=self.stop_timeout)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


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
