"""`flarekube run`: a real NVFlare federation on this machine, stopped whole on Ctrl-C, SIGTERM or SIGHUP."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from flarekube.api.documents import STDIN
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

if TYPE_CHECKING:
    from flarekube.api import Bundle
    from flarekube.local.runner import RunOptions

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
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background; follow with status, logs and stop.")
    ] = False,
    supervised: Annotated[bool, typer.Option("--supervised", hidden=True)] = False,  # the detached supervisor
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", min=1, max=65535,
            help="Serve federation metrics (Prometheus /metrics on 127.0.0.1): the server on PORT, "
            "the sites on PORT+1, PORT+2, ...",
        ),
    ] = None,
) -> None:
    """Run a real NVFlare federation on this machine: server + one process per site, mTLS on 127.0.0.1.

    Provisions (or reuses) the kits, starts everything, submits each FLJob with the Flare API,
    shows progress per round and writes global_model.pt, metrics.csv, summary.json and plot.png.
    Ctrl-C, SIGTERM and SIGHUP stop every process it started (exit 128 + the signal's number); if this
    command is killed outright, a watchdog stops them. With --detach a supervisor in its own session
    does all this (the same guarantees) and the command returns; `flarekube status`, `logs SITE` and
    `stop` talk to it.
    """
    from flarekube.local import detached
    from flarekube.local.runner import RunOptions
    from flarekube.local.workspace import Workspace, default_root

    paths = inputs(files, filename)
    if detach and STDIN in paths:
        fail("--detach cannot read stdin (the supervisor starts later): give the documents as files", Exit.USAGE)
    bundle = load_bundle_or_fail(paths)
    target = out or Path("runs") / (bundle.jobs[0].metadata.name if bundle.jobs else bundle.project.metadata.name)
    ws = Workspace(workspace_dir(workspace) or default_root(bundle.project.metadata.name))
    options = RunOptions(
        out=target,
        workspace=ws.root,
        connect_timeout=connect_timeout,
        reissue_kits=reissue_kits,
        new_root_ca=new_root_ca,
        compare=compare,
        metrics_port=metrics_port,
    )
    if detach:
        from flarekube.cli.detach import start_detached

        start_detached(bundle, paths, ws, options)
        return
    if not supervised:
        _run_foreground(bundle, options)
        return
    project = bundle.project
    detached.begin(
        ws, project=project.metadata.name, project_name=project.project_name,
        jobs=[j.metadata.name for j in bundle.jobs], rounds={j.metadata.name: j.spec.rounds for j in bundle.jobs},
        participants=["server", *(s.name for s in project.spec.sites)], out=target.resolve(),
        files=[str(p) for p in paths],
    )  # fmt: skip
    options.report = lambda progress: detached.report(ws, progress)
    code = int(Exit.RUNTIME)  # an unexpected exception: a failure, with its traceback in the log
    try:
        _run_foreground(bundle, options)
        code = 0
    except typer.Exit as done:
        code = done.exit_code
        raise
    finally:
        detached.finish(ws, code)


def _run_foreground(bundle: Bundle, options: RunOptions) -> None:
    from flarekube.local.federation import FederationError
    from flarekube.local.runner import JobFolderRefused, RunError
    from flarekube.local.runner import run as run_local
    from flarekube.provisioning import KitStoreRefusal

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
    except (RunError, FederationError) as error:
        fail(str(error), Exit.RUNTIME)
