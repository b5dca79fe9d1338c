"""`flarekube run`: a real NVFlare federation on this machine, stopped whole on Ctrl-C, SIGTERM or SIGHUP."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from flarekube.cli.app import (
    Exit,
    FilenameOption,
    FilesArgument,
    NewRootCAOption,
    ReissueKitsOption,
    WorkspaceOption,
    app,
    console,
    fail,
    inputs,
    load_bundle_or_fail,
    workspace_dir,
)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; raised where the main thread is, so every `with` cleans up on the way out.

    A KeyboardInterrupt, so everything that already handles Ctrl-C (the Supervisor stopping every
    process, Live displays) handles SIGTERM (timeout, systemd, CI, kill) and SIGHUP the same way.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@app.command()
def run(
    files: FilesArgument = None,
    filename: FilenameOption = None,
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="Output folder (default: runs/<job name>).")] = None,
    workspace: WorkspaceOption = None,
    connect_timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds every site gets to connect.")] = (
        60.0
    ),
    reissue_kits: ReissueKitsOption = False,
    new_root_ca: NewRootCAOption = False,
    compare: Annotated[bool, typer.Option(help="Also train local-only baselines and compare AUCs.")] = True,
) -> None:
    """Run a real NVFlare federation on this machine: server + one process per site, mTLS on 127.0.0.1.

    Provisions (or reuses) the kits, starts everything, submits each FLJob with the Flare API,
    shows progress per round and writes global_model.pt, metrics.csv, summary.json and plot.png.
    Ctrl-C, SIGTERM and SIGHUP stop every process it started (exit 128 + the signal's number); if this
    command is killed outright, a watchdog stops them.
    """
    from flarekube.local.federation import FederationError
    from flarekube.local.runner import JobFolderRefused, RunError, RunOptions
    from flarekube.local.runner import run as run_local
    from flarekube.local.workspace import PortInUse
    from flarekube.provisioning import KitStoreRefusal

    bundle = load_bundle_or_fail(inputs(files, filename))
    target = out or Path("runs") / (bundle.jobs[0].metadata.name if bundle.jobs else bundle.project.metadata.name)
    options = RunOptions(
        out=target,
        workspace=workspace_dir(workspace),
        connect_timeout=connect_timeout,
        reissue_kits=reissue_kits,
        new_root_ca=new_root_ca,
        compare=compare,
    )
    try:
        with stop_on_signals():
            run_local(bundle, options, console)
    except Stopped as stop:
        fail(f"interrupted ({stop}): every NVFlare process was stopped", 128 + stop.signum)
    except KeyboardInterrupt:
        fail("interrupted: every NVFlare process was stopped", Exit.INTERRUPTED)
    except KitStoreRefusal as error:
        fail(f"kits not issued: {error}", Exit.REFUSED)
    except JobFolderRefused as error:
        fail(str(error), Exit.REFUSED if error.refused else Exit.INVALID)
    except (RunError, FederationError, PortInUse) as error:
        fail(str(error), Exit.RUNTIME)
