"""`flarekube doctor [FILE]`: can `flarekube run` work here? Versions, ports, kits, certificate days left.

Every check is ok, warn (works, but worth knowing) or fail (exit 1); each warn and fail says what to do.
Kits and certificates are read through the planner and the kit store (`plan_kits`, `load_state`): the
same answers `plan` and `kits` give, no certificate parsed here.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Annotated

import psutil
import typer
from rich.table import Table

from flarekube.api import FLProject
from flarekube.api.project import ServerSpec
from flarekube.cli.app import Exit, Output, OutputOption, WorkspaceOption, app, console, emit, load_bundle_or_fail
from flarekube.cli.app import workspace_dir as checked_workspace
from flarekube.local import detached
from flarekube.local.ports import is_free
from flarekube.local.watchdog import under
from flarekube.local.workspace import Workspace, default_root

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Check:
    check: str
    status: str  # ok, warn or fail
    detail: str
    fix: str = ""


def _requirement(dist: str) -> str:
    """flarekube's own pin of `dist` (e.g. 'nvflare>=2.9.0,<2.10'), '' when unknown."""
    with contextlib.suppress(PackageNotFoundError):
        for req in requires("flarekube") or []:
            if req.split(";")[0].replace(" ", "").lower().startswith(dist):
                return req.split(";")[0].strip()
    return ""


def _in_range(installed: str, requirement: str) -> bool:
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version

        return Requirement(requirement).specifier.contains(Version(installed), prereleases=True)
    except Exception:  # packaging absent or an unusual version string: do not guess a failure
        return True


def versions() -> list[Check]:
    py = ".".join(map(str, sys.version_info[:3]))
    checks = [Check("python", "ok", f"{py} ({sys.executable})") if sys.version_info >= MIN_PYTHON else
              Check("python", "fail", py, f"use Python {'.'.join(map(str, MIN_PYTHON))} or newer")]  # fmt: skip
    for dist, module in (("nvflare", "nvflare"), ("torch", "torch")):
        want = _requirement(dist)
        try:
            have = version(dist)
            importlib.import_module(module)  # installed is not enough: it must import
        except PackageNotFoundError:
            checks.append(Check(dist, "fail", "not installed", f"pip install '{want or dist}'"))
            continue
        except Exception as error:  # an import that breaks (missing CUDA library, ABI mismatch)
            checks.append(Check(dist, "fail", f"{have} does not import: {type(error).__name__}: {str(error)[:120]}",
                                f"reinstall it: pip install --force-reinstall '{want or dist}'"))  # fmt: skip
            continue
        if want and not _in_range(have, want):
            checks.append(Check(dist, "fail", f"{have}; flarekube needs {want}", f"pip install '{want}'"))
        else:
            checks.append(Check(dist, "ok", have + (f" (needs {want})" if want else "")))
    return checks


def holders(port: int) -> list[psutil.Process]:
    """Processes with a TCP socket on `port` (those this user may see)."""
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.pid and conn.status in ("LISTEN", "NONE"):
                with contextlib.suppress(psutil.Error):
                    found[conn.pid] = psutil.Process(conn.pid)
    return list(found.values())


def _who(procs: list[psutil.Process]) -> str:
    names = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            names.append(f"{proc.name()} (pid {proc.pid}: {' '.join(proc.cmdline()[:6])[:100]})")
    return ", ".join(names) or "a process this user cannot see"


def ports(project: FLProject | None, ws: Workspace | None) -> list[Check]:
    saved = ws.saved_ports() if ws is not None else None
    server = project.spec.server if project is not None else ServerSpec()
    wanted = saved or (server.fl_port, server.admin_port)
    ours = {p.pid for p in under(str(ws.run.resolve()))} if ws is not None else set()
    checks = []
    for label, port in zip(("fl port", "admin port"), wanted, strict=True):
        if is_free(port):
            checks.append(Check(label, "ok", f"{port} free"))
            continue
        procs = holders(port)
        if procs and all(p.pid in ours for p in procs):
            checks.append(Check(label, "ok", f"{port} in use by this project's running federation ({_who(procs)})"))
        elif saved is None:
            checks.append(Check(label, "warn", f"{port} in use by {_who(procs)}",
                                "nothing to do: the kits will be issued for two free ports instead"))  # fmt: skip
        else:
            checks.append(Check(label, "fail", f"{port} (the kits were issued for it) in use by {_who(procs)}",
                                f"stop that process (`ss -ltnp 'sport = :{port}'`), or move this project to free "
                                "ports: flarekube kits FILE --reissue-kits (same root CA)"))  # fmt: skip
    return checks


def kits(project: FLProject, ws: Workspace, files: str) -> list[Check]:
    from flarekube.local.federation import plan_kits
    from flarekube.provisioning import LocalKitStore, load_state

    plan = plan_kits(project, ws, reissue_kits=False, new_root_ca=False)
    if plan.refusal:
        return [Check("kits", "fail", plan.refusal.splitlines()[0][:300], "read `flarekube plan " + files + "`")]
    missing = [k.record.name for k in plan.issue if k.record.name not in plan.renew]
    if missing:
        checks = [Check("kits", "warn", f"{len(plan.keep)} issued; not yet: {', '.join(missing)}",
                        f"nothing to do: `flarekube run` issues them (or now: flarekube kits {files})")]  # fmt: skip
    else:
        checks = [Check("kits", "ok", f"all {len(plan.keep)} issued in {ws.kits}")]
    if not ws.kits.is_dir():
        return checks
    stored = load_state(LocalKitStore.reader(ws.kits))
    now = datetime.datetime.now(datetime.timezone.utc)
    if stored.ca is not None:
        days = (stored.ca.not_after - now).days
        status, fix = ("ok", "") if days >= 30 else ("warn", "plan a new root CA (--new-root-ca re-issues every kit)")
        if days < 0:
            status, fix = "fail", "the root CA expired: flarekube kits FILE --new-root-ca (every kit is re-issued)"
        checks.append(Check("root CA", status, f"{days} days left (until {stored.ca.not_after:%Y-%m-%d})", fix))
    if stored.expires:
        name, first = min(stored.expires.items(), key=lambda item: item[1])
        days = (first - now).days
        if days < 0:
            checks.append(Check("certificates", "fail", f"{name}'s expired on {first:%Y-%m-%d}",
                                f"flarekube kits {files} renews it (fresh key, same root CA)"))  # fmt: skip
        elif name in plan.renew:
            checks.append(Check("certificates", "warn", f"{name}'s has {days} days left",
                                "nothing to do: the next run or `kits` renews it (same root CA)"))  # fmt: skip
        else:
            checks.append(Check("certificates", "ok", f"{days} days left (first to expire: {name})"))
    return checks


def workspace_check(ws: Workspace) -> list[Check]:
    if not ws.root.exists():
        return [Check("workspace", "ok", f"{ws.root} (created on first use)")]
    mode = ws.root.stat().st_mode & 0o777
    if mode & 0o077:
        return [Check("workspace", "fail", f"{ws.root} is mode {mode:o}: others can read the keys",
                      f"chmod 700 {ws.root}")]  # fmt: skip
    data = detached.read_state(ws)
    running = data is not None and detached.effective(data)[0] in detached.ACTIVE
    return [Check("workspace", "ok", f"{ws.root} (0700)" + (f"; a detached run is running (pid {data['pid']})"
                                                               if running and data else ""))]  # fmt: skip


@app.command()
def doctor(
    file: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE...]", help="The project (adds its ports, kits and certificates)."),
    ] = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = Output.text,
) -> None:
    """Check this machine for `flarekube run`: Python, NVFlare and torch, the ports, the kits and how many
    days their certificates have left. Exit 1 when a check fails; each says what to do."""
    checks = versions()
    if file:
        project = load_bundle_or_fail(file, output).project
        ws = Workspace(checked_workspace(workspace) or default_root(project.metadata.name))
        checks += workspace_check(ws) + ports(project, ws) + kits(project, ws, " ".join(map(str, file)))
    else:
        checks += ports(None, None)
    failed = [c for c in checks if c.status == "fail"]
    if output != Output.text:
        emit({"ok": not failed, "checks": [asdict(c) for c in checks]}, output)
    else:
        table = Table()
        for column in ("check", "", "detail", "what to do"):
            table.add_column(column)
        mark = {"ok": "[green]ok", "warn": "[yellow]warn", "fail": "[red]FAIL"}
        for c in checks:
            table.add_row(c.check, mark[c.status], c.detail, c.fix)
        console.print(table)
        if not file:
            console.print("give the project's FILE to check its ports, kits and certificates too", highlight=False)
    if failed:
        raise typer.Exit(int(Exit.RUNTIME))
