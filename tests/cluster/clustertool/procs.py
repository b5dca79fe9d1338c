"""Starting, watching and stopping the cluster's host processes.

Each component runs detached (its own session, so it outlives `make cluster-up`), logs to a file and
leaves a pid file holding its pid and start time: a recycled pid is never mistaken for the component.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path


class ComponentDied(RuntimeError):
    """A component exited while the cluster was coming up; the message carries its log tail."""


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]


class ProcessGroup:
    """The cluster's detached host processes, by name: pid files under `run_dir`, logs under `log_dir`."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir, self.log_dir = run_dir, log_dir

    def pidfile(self, name: str) -> Path:
        return self.run_dir / "pids" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.pidfile(name).parent.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log(name)
        if log.exists():  # keep the previous run's log for a post-mortem
            log.replace(log.with_suffix(".log.1"))
        with open(log, "ab") as out:
            out.write(f"# {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**os.environ, **(env or {})})
        self.pidfile(name).write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc.pid

    def pid(self, name: str) -> int | None:
        """The component's pid if it is running (and is still the process we started)."""
        try:
            pid_s, start = self.pidfile(name).read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_s)
        if _start_time(pid) != start:
            return None
        # A zombie is not running: an exited child of ours, or an orphan this VM's init has not reaped yet.
        return pid if _running(pid) else None

    def known(self) -> list[str]:
        return sorted(p.stem for p in (self.run_dir / "pids").glob("*.pid"))

    def tail(self, name: str, lines: int = 25) -> str:
        try:
            text = self.log(name).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(line[:400] for line in text[-lines:])

    def check(self, names: Iterable[str]) -> None:
        for name in names:
            if self.pid(name) is None:
                raise ComponentDied(
                    f"{name} is not running; the last lines of {self.log(name)}:\n{self.tail(name)}")

    def wait(self, what: str, ready: Callable[[], bool], watch: Iterable[str], timeout: float) -> None:
        """Polls `ready` until true; fails fast, with the log tail, if a watched component exits."""
        watch = list(watch)
        deadline = time.monotonic() + timeout
        while True:
            self.check(watch)
            try:
                if ready():
                    return
            except Exception:  # not ready yet: connection refused, 5xx, ...
                pass
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n} ({self.log(n)}):\n{self.tail(n, 15)}" for n in watch)
                raise TimeoutError(f"{what} not ready after {timeout:.0f} s\n{tails}")
            time.sleep(0.5)

    def stop(self, name: str, timeout: float = 15.0) -> None:
        pid = self.pid(name)
        if pid is not None:
            kill_and_wait([pid], timeout)
        self.pidfile(name).unlink(missing_ok=True)


def kill_and_wait(pids: list[int], timeout: float) -> None:
    """SIGTERM, then SIGKILL whatever is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
        while time.monotonic() < deadline:
            pids = [p for p in pids if _running(p)]
            if not pids:
                return
            time.sleep(0.2)


def _running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
