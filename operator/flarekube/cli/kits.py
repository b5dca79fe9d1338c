"""`flarekube validate` and `flarekube kits`: check documents; issue (only missing) kits and show them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from flarekube.api import FLJob, FLProject, SpecError
from flarekube.api.documents import bundle_of
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
    documents_of,
    emit,
    fail,
    inputs,
    load_bundle_or_fail,
    spec_error,
    workspace_dir,
)
from flarekube.cli.site import ReadmitRevokedOption


@app.command()
def validate(files: FilesArgument = None, filename: FilenameOption = None, output: OutputOption = Output.text) -> None:
    """Check FLProject/FLJob documents; every problem is named by its field path (exit 3 if any)."""
    paths = inputs(files, filename)
    docs = documents_of(paths, output)
    if any(isinstance(d, FLProject) for _, d in docs) and any(isinstance(d, FLJob) for _, d in docs):
        try:
            bundle_of(docs)  # cross-document rules too
        except SpecError as error:
            spec_error(error, output)
    if output != Output.text:
        listed = [{"file": "<stdin>" if str(p) == "-" else str(p), "kind": d.kind, "name": d.metadata.name}
                  for p, d in docs]  # fmt: skip
        emit({"ok": True, "documents": listed}, output)
        return
    for path, doc in docs:
        where = "<stdin>" if str(path) == "-" else path
        console.print(f"[green]valid[/] {doc.kind} {doc.metadata.name} ({where})", highlight=False)


@app.command()
def kits(
    files: FilesArgument = None,
    filename: FilenameOption = None,
    workspace: WorkspaceOption = None,
    reissue_kits: ReissueKitsOption = False,
    new_root_ca: NewRootCAOption = False,
    dry_run: bool = False,
    readmit_revoked: ReadmitRevokedOption = False,
    output: OutputOption = Output.text,
) -> None:
    """Issue the project's startup kits for `flarekube run` (only what is missing) and show them.

    Kits already issued are kept byte for byte; the root CA is never replaced without --new-root-ca.
    With --dry-run: what would be issued, kept, removed or refused, writing nothing (= `flarekube plan`).
    """
    from flarekube.local.federation import issue_kits
    from flarekube.local.workspace import Workspace, default_root
    from flarekube.provisioning import KitStoreRefusal

    bundle = load_bundle_or_fail(inputs(files, filename), output)
    project = bundle.project
    ws = Workspace(workspace_dir(workspace) or default_root(project.metadata.name))
    if dry_run:
        from flarekube.cli.plan import show_plan

        show_plan(project, ws, reissue_kits=reissue_kits, new_root_ca=new_root_ca, output=output)
        return
    try:
        report = issue_kits(
            project, ws, reissue_kits=reissue_kits, new_root_ca=new_root_ca, readmit_revoked=readmit_revoked
        )
    except KitStoreRefusal as error:
        fail(f"kits not issued: {error}", Exit.REFUSED, output)
    state = {**dict.fromkeys(report.kept, "kept"), **dict.fromkeys(report.reconfigured, "reconfigured"),
             **dict.fromkeys(report.issued, "issued"), **dict.fromkeys(report.renewed, "renewed")}  # fmt: skip
    if output != Output.text:
        data: dict[str, Any] = {
            "ok": True, "project": project.project_name, "workspace": str(ws.root),
            "rootCA": {"sha256": report.ca_fingerprint, "expires": report.ca_expires.isoformat(),
                       "created": report.ca_created},
            "kits": [{"participant": n, "state": state.get(n, ""), "expires": report.cert_expiry[n].isoformat()}
                     for n in sorted(report.cert_expiry)],
            "removed": list(report.removed),
        }  # fmt: skip
        emit(data, output)
        return
    table = Table(
        title=f"{project.project_name}: kits in {ws.kits} (root CA sha256 {report.ca_fingerprint[:16]}…)"
    )
    for column in ("participant", "this run", "certificate expires"):
        table.add_column(column)
    colour = {"issued": "[green]issued", "kept": "kept", "renewed": "[cyan]renewed (fresh key)",
              "reconfigured": "[cyan]kept, config re-rendered (ports)"}  # fmt: skip
    for name in sorted(report.cert_expiry):
        table.add_row(name, colour.get(state.get(name, ""), ""), f"{report.cert_expiry[name]:%Y-%m-%d}")
    for name in report.removed:
        table.add_row(name, "[yellow]removed", "")
    console.print(table)
    console.print(
        f"root CA expires {report.ca_expires:%Y-%m-%d}" + (" (created now)" if report.ca_created else "")
    )
    if report.reconfigured:
        console.print(f"ports changed for {len(report.reconfigured)} kit(s): config re-rendered, nothing re-issued")
