"""The watchdog of one local federation: when the CLI dies without cleaning up, nothing it started survives.

`flarekube run` stops everything on Ctrl-C, SIGTERM and SIGHUP itself. SIGKILL and the OOM killer give it no
chance, and NVFlare's job workers are grandchildren in sessions of their own, out of reach of a parent-death
signal on the direct child. So each federation gets this small process: it holds the read end of a pipe
whose only write end is the CLI's. The pipe closes when the CLI exits, however it exits; the watchdog then
kills every process whose command line or working folder lies under the federation's run folder (the
server, every site, their job workers), and exits. Its own session: Ctrl-C on the terminal is not for it.

    python -m flarekube.local.watchdog RUN_FOLDER   (stdin: the pipe)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import psutil

GRACE_SECONDS = 5.0


def under(folder: str) -> list[psutil.Process]:
    """Processes (not this one) whose command line mentions `folder` or that run inside it."""
    me, found = os.getpid(), []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] == me:
            continue
        cmd = " ".join(proc.info.get("cmdline") or [])
        cwd = proc.info.get("cwd") or ""
        if folder in cmd or cwd == folder or cwd.startswith(folder + os.sep):
            found.append(proc)
    return found


def kill_tree_under(folder: str, grace: float = GRACE_SECONDS) -> int:
    """SIGTERM, a grace period, then SIGKILL, until nothing is left under `folder`; returns how many."""
    killed: set[int] = set()
    deadline = time.monotonic() + 3 * grace
    while time.monotonic() < deadline:
        procs = under(folder)
        if not procs:
            break
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
            killed.add(proc.pid)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=2)
    return len(killed)


def main(argv: list[str]) -> int:
    folder = str(Path(argv[0]).resolve())
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while sys.stdin.buffer.read(1):  # blocks until the CLI's end closes (EOF); data never comes
        pass
    kill_tree_under(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
