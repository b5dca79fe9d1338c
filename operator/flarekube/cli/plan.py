"""`flarekube plan FILE...` (= `kits --dry-run`): what would be issued, kept, removed or refused; writes nothing."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from flarekube.api import FLProject
from flarekube.cli.app import (
    Exit,
    FilenameOption,
    FilesArgument,
    NewRootCAOption,
    Output,
    OutputOption,
    ReissueKitsOption,
    WorkspaceOption,
    app,
    console,
    emit,
    err,
    inputs,
    load_bundle_or_fail,
    workspace_dir,
)
from flarekube.local.workspace import Workspace, default_root


def show_plan(project: FLProject, ws: Workspace, *, reissue_kits: bool, new_root_ca: bool, output: Output) -> None:
    import typer

    from flarekube.local.federation import plan_kits

    p = plan_kits(project, ws, reissue_kits=reissue_kits, new_root_ca=new_root_ca)
    data: dict[str, Any] = {
        "ok": p.refusal is None,
        "project": project.project_name,
        "workspace": str(ws.root),
        "createRootCA": p.create_root_ca,
        "issue": [{"participant": k.record.name, "kind": k.record.kind, "reason": k.reason} for k in p.issue],
        "keep": list(p.keep),
        # kept kits whose connection files are re-rendered (a port change): nothing re-issued for them
        "reconfigure": [
            {"participant": k.record.name, "kind": k.record.kind, "reason": k.reason} for k in p.reconfigure
        ],
        "remove": list(p.remove),
        "refused": p.refusal,
    }
    if output != Output.text:
        emit(data, output)
    elif p.refusal:
        err.print(f"[bold red]refused:[/] {escape(p.refusal)}", highlight=False)
    else:
        console.print(f"plan for {project.project_name} in {ws.root} (nothing written):", highlight=False)
        if p.create_root_ca:
            console.print("  [green]+ root CA[/] (new)")
        for kit in p.issue:
            console.print(f"  [green]+ issue[/]  {kit.record.name} ({kit.record.kind}): {kit.reason}", highlight=False)
        for name in p.keep:
            console.print(f"  = keep   {name}", highlight=False)
        for kit in p.reconfigure:
            console.print(f"  [cyan]~ config[/] {kit.record.name} ({kit.record.kind}): {kit.reason}", highlight=False)
        for name in p.remove:
            console.print(f"  [yellow]- remove[/] {name}", highlight=False)
        if p.changes_nothing:
            console.print("  nothing re-issued" if p.reconfigure else "  nothing to change")
    if p.refusal:
        raise typer.Exit(int(Exit.REFUSED))


@app.command()
def plan(
    files: FilesArgument = None,
    filename: FilenameOption = None,
    workspace: WorkspaceOption = None,
    reissue_kits: ReissueKitsOption = False,
    new_root_ca: NewRootCAOption = False,
    output: OutputOption = Output.text,
) -> None:
    """What `kits`/`run` would issue, keep, remove or refuse for these documents; writes nothing (exit 4: refused)."""
    project = load_bundle_or_fail(inputs(files, filename), output).project
    ws = Workspace(workspace_dir(workspace) or default_root(project.metadata.name))
    show_plan(project, ws, reissue_kits=reissue_kits, new_root_ca=new_root_ca, output=output)
