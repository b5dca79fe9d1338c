"""`flarekube run --detach`, and `status`, `logs` and `stop`, which talk to the detached supervisor.

The supervisor and its record are `flarekube.local.detached`; this module only starts it and shows it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flarekube.api import Bundle
from flarekube.cli.app import (
    Exit,
    Output,
    OutputOption,
    WorkspaceOption,
    app,
    console,
    emit,
    fail,
    load_bundle_or_fail,
    workspace_dir,
)
from flarekube.local import detached
from flarekube.local.runner import RunOptions
from flarekube.local.workspace import Workspace, default_root

START_TIMEOUT = 120.0  # seconds for the supervisor to import, read the documents and check the data
STOP_TIMEOUT = 60.0  # the supervisor stops every participant (10 s each at most) and its watchdog

ProjectFile = Annotated[
    Path | None,
    typer.Argument(metavar="[FILE]", help="The FLProject's file (its metadata.name picks the run).",
                   show_default=False),
]
ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", metavar="NAME", help="The FLProject's metadata.name.")
]


def start_detached(bundle: Bundle, paths: list[Path], ws: Workspace, options: RunOptions) -> None:
    """Check what can be checked here, start the supervisor, return once it has checked the data."""
    from flarekube.local.federation import plan_kits

    previous = detached.read_state(ws)
    if previous is not None and detached.effective(previous)[0] in detached.ACTIVE:
        fail(f"a detached run of {previous['project']} is already running (pid {previous['pid']}); "
             f"stop it first: flarekube stop -p {previous['project']}", Exit.RUNTIME)  # fmt: skip
    refusal = plan_kits(bundle.project, ws, reissue_kits=options.reissue_kits, new_root_ca=options.new_root_ca).refusal
    if refusal:
        fail(f"kits not issued: {refusal}", Exit.REFUSED)
    argv = ["run", *(str(p.resolve()) for p in paths), "--out", str(options.out.resolve()),
            "--workspace", str(ws.root.resolve()), "--connect-timeout", str(options.connect_timeout),
            "--supervised"]  # fmt: skip
    argv += [flag for flag, on in (("--reissue-kits", options.reissue_kits), ("--new-root-ca", options.new_root_ca),
                                   ("--no-compare", not options.compare)) if on]  # fmt: skip
    proc = detached.spawn(argv, ws)
    data = detached.wait_started(ws, proc, START_TIMEOUT)
    if data is None:
        code = proc.poll()
        log = "\n".join(detached.tail(detached.supervisor_log(ws), 20))
        if code is None:  # still importing or checking after START_TIMEOUT: keep it, say so
            console.print(f"[yellow]started[/] (pid {proc.pid}) but not yet past its checks; see {log}")
            return
        sys.stderr.write(log + "\n")
        raise typer.Exit(code)
    name = bundle.project.metadata.name
    select = f"-p {shlex.quote(name)}"
    if ws.root.resolve() != default_root(name).resolve():
        select += f" --workspace {shlex.quote(str(ws.root))}"
    console.print(f"[green]started[/] {name} in the background (supervisor pid {proc.pid}); results -> {options.out}/",
                  highlight=False)  # fmt: skip
    console.print(
        f"  flarekube status {select}            # running/finished/failed, round N/M, sites\n"
        f"  flarekube logs SITE {select} -f      # a site's log (--server: the server's)\n"
        f"  flarekube stop {select}              # stop it (every NVFlare process it started)",
        highlight=False, markup=False,
    )  # fmt: skip


def _chosen(file: Path | None, project: str | None, workspace: Path | None, *, running: bool) -> Workspace:
    """The workspace of the run meant: --workspace, -p NAME or FILE, else the one recorded (running) run."""
    if sum(x is not None for x in (file, project)) > 1:
        fail("give FILE or --project, not both", Exit.USAGE)
    if workspace is not None:
        return Workspace(workspace_dir(workspace) or Path())
    if project is not None:
        return Workspace(default_root(project))
    if file is not None:
        return Workspace(default_root(load_bundle_or_fail([file]).project.metadata.name))
    candidates = detached.recorded()
    if running:
        candidates = [ws for ws in candidates if _is_running(ws)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        fail("no detached run " + ("is running" if running else "is recorded") +
             " (start one with: flarekube run --detach FILE)")  # fmt: skip
    names = ", ".join(ws.root.name for ws in candidates)
    fail(f"several detached runs ({names}): give one with -p NAME", Exit.USAGE)


def _is_running(ws: Workspace) -> bool:
    data = detached.read_state(ws)
    return data is not None and detached.effective(data)[0] in detached.ACTIVE


def _record(ws: Workspace, output: Output = Output.text) -> dict[str, Any]:
    data = detached.read_state(ws)
    if data is None:
        fail(f"no detached run recorded in {ws.root} (start one with: flarekube run --detach FILE)", Exit.RUNTIME,
             output)  # fmt: skip
    return data


def view(data: dict[str, Any]) -> dict[str, Any]:
    """What `status -o json` prints: the record, its state made true (a killed supervisor is failed)."""
    state, why = detached.effective(data)
    progress = data.get("progress") or {}
    job = progress.get("job") or next(iter(data.get("jobs") or []), None)
    return {
        "project": data.get("project"), "state": state, "message": why, "exitCode": data.get("exitCode"),
        "pid": data.get("pid"), "started": data.get("started"), "finished": data.get("finished"),
        "jobs": data.get("jobs", []), "job": progress.get("job"), "jobId": progress.get("jobId"),
        "phase": progress.get("phase"), "jobStatus": progress.get("status"),
        "round": progress.get("round", 0),
        "rounds": progress.get("rounds") or (data.get("rounds") or {}).get(job or ""),
        "sites": progress.get("sites", {}), "out": data.get("out"), "workspace": data.get("workspace"),
        "supervisorLog": data.get("supervisorLog"), "logs": data.get("logs", {}),
    }  # fmt: skip


STATE_COLOUR = {"running": "green", "finished": "green", "stopped": "yellow", "failed": "red"}


@app.command()
def status(
    file: ProjectFile = None, project: ProjectOption = None, workspace: WorkspaceOption = None,
    output: OutputOption = Output.text,
) -> None:  # fmt: skip
    """A detached run: running, finished, stopped or failed; round N/M; each site. No FILE: every run."""
    if file is None and project is None and workspace is None:
        views = [view(d) for ws in detached.recorded() if (d := detached.read_state(ws)) is not None]
        if output != Output.text:
            emit({"runs": views}, output)
            return
        if not views:
            console.print("no detached runs recorded (start one with: flarekube run --detach FILE)")
            return
        table = Table()
        for column in ("project", "state", "job", "round", "started"):
            table.add_column(column)
        for v in views:
            table.add_row(v["project"], _coloured(v["state"]), v["job"] or "-", _round(v), v["started"] or "")
        console.print(table)
        return
    v = view(_record(_chosen(file, project, workspace, running=False), output))
    if output != Output.text:
        emit(v, output)
        return
    console.print(f"[bold]{v['project']}[/]: {_coloured(v['state'])} (supervisor pid {v['pid']}, "
                  f"started {v['started']}" + (f", ended {v['finished']}" if v["finished"] else "") + ")",
                  highlight=False)  # fmt: skip
    if v["message"]:
        console.print(f"  {v['message']}", highlight=False, markup=False)
    console.print(f"  job {v['job'] or '-'} ({v['jobStatus'] or v['phase']}): round {_round(v)}", highlight=False)
    if v["sites"]:
        table = Table()
        for column in ("site", "state", "round", "train loss", "val AUC"):
            table.add_column(column)
        for site, row in v["sites"].items():
            state = "connected" if row.get("connected") else "[red]disconnected"
            table.add_row(site, state, _num(row.get("round"), "{:.0f}"), _num(row.get("trainLoss")),
                          _num(row.get("valAuc")))  # fmt: skip
        console.print(table)
    console.print(f"  results {v['out']}/  logs: flarekube logs SITE -p {v['project']}", highlight=False)


def _coloured(state: str) -> str:
    return f"[{STATE_COLOUR.get(state, 'white')}]{state}[/]"


def _round(v: dict[str, Any]) -> str:
    return f"{v['round'] or 0}/{v['rounds'] or '?'}"


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(float(value))


@app.command()
def logs(
    site: Annotated[str | None, typer.Argument(metavar="[SITE]", help="The site (a spec.sites[].name).")] = None,
    server: Annotated[bool, typer.Option("--server", help="The server's log instead of a site's.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")] = False,
    tail: Annotated[int, typer.Option("--tail", metavar="N", min=0, help="Start with the last N lines.")] = 200,
    file: Annotated[Path | None, typer.Option("--file", metavar="FILE", help="The FLProject's file.")] = None,
    project: ProjectOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Print a participant's log of the detached run (the latest run in that workspace)."""
    if server == (site is not None):
        fail("give SITE or --server (one of them)", Exit.USAGE)
    ws = _chosen(file, project, workspace, running=False)
    data = _record(ws)
    name = "server" if server else str(site)
    known: dict[str, str] = data.get("logs") or {}
    if name not in known:
        fail(f"{name!r} is not a participant of {data.get('project')} (sites: "
             f"{', '.join(n for n in known if n != 'server')}; --server for the server)", Exit.USAGE)  # fmt: skip
    path = Path(known[name])
    if not path.is_file():
        fail(f"no log for {name} yet ({path}): the federation is not up, or a newer run replaced it")
    if not follow:
        for line in detached.tail(path, tail):
            sys.stdout.write(line + "\n")
        return
    try:
        for line in detached.follow(path, tail, lambda: _is_running(ws)):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        raise typer.Exit(int(Exit.INTERRUPTED)) from None


@app.command()
def stop(
    file: ProjectFile = None, project: ProjectOption = None, workspace: WorkspaceOption = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Wait this long before SIGKILL.")] = STOP_TIMEOUT,
) -> None:  # fmt: skip
    """Stop a detached run: SIGTERM to its supervisor, which stops every NVFlare process it started."""
    ws = _chosen(file, project, workspace, running=True)
    data = _record(ws)
    state, _ = detached.effective(data)
    if state not in detached.ACTIVE:
        fail(f"nothing runs for {data.get('project')}: its last detached run {state} ({data.get('finished') or '-'})")
    if not detached.stop(data, timeout):
        fail(f"the supervisor (pid {data['pid']}) did not stop even after SIGKILL")
    after = detached.read_state(ws) or data
    console.print(f"[green]stopped[/] {data.get('project')} (supervisor pid {data['pid']}, exit "
                  f"{after.get('exitCode', '-')}); every NVFlare process it started is gone",
                  highlight=False)  # fmt: skip
