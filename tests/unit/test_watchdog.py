"""The federation watchdog: when its pipe closes (the CLI died, even by SIGKILL), every process under the run
folder dies, also one in a session of its own (as NVFlare's job workers are), and nothing else does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def test_closing_the_lifeline_kills_every_process_under_the_folder_and_only_those(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "participants" / "site-1").mkdir(parents=True)
    # a "job worker": own session, its folder only in its working directory; another one named on its command line
    inside = subprocess.Popen(["sleep", "300"], cwd=run / "participants" / "site-1", start_new_session=True)
    named = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(run)], start_new_session=True)
    outside = subprocess.Popen(["sleep", "300"], cwd=tmp_path, start_new_session=True)
    read_end, write_end = os.pipe()
    watchdog = subprocess.Popen([sys.executable, "-m", "flarekube.local.watchdog", str(run)], stdin=read_end,
                                start_new_session=True)  # fmt: skip
    os.close(read_end)
    try:
        time.sleep(1.0)
        assert inside.poll() is None and named.poll() is None  # nothing happens while the pipe is open
        os.close(write_end)  # what the kernel does when the CLI dies
        started = time.monotonic()
        assert watchdog.wait(timeout=15) == 0
        assert inside.wait(timeout=1) != 0 and named.wait(timeout=1) != 0
        assert time.monotonic() - started < 15
        assert outside.poll() is None  # not under the folder: left alone
    finally:
        for proc in (inside, named, outside, watchdog):
            proc.kill()
            proc.wait()
