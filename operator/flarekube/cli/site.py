"""`flarekube site revoke NAME FILE...`: remove a site for good from a local workspace.

NVFlare has no revocation, and a site's kit is signed by the project's root for its whole validity: a
deleted kit directory is no protection against a copy kept elsewhere. So the site's certificates are
marked revoked in the ledger (the server's CertGuard refuses their serials from the next run on), its
kit is deleted, and the project refuses to issue that name a kit again unless `flarekube kits
--readmit-revoked` asks for it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flarekube.cli.app import (
    Exit,
    FilenameOption,
    FilesArgument,
    Output,
    OutputOption,
    WorkspaceOption,
    app,
    console,
    emit,
    fail,
    inputs,
    load_bundle_or_fail,
    workspace_dir,
)

ReadmitRevokedOption = Annotated[
    bool,
    typer.Option(help="Issue a kit again for a site revoked by `flarekube site revoke` (a new certificate)."),
]

site_app = typer.Typer(help="Manage one site of a local workspace: `flarekube site revoke NAME FILE`.")
app.add_typer(site_app, name="site")


@site_app.command()
def revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The site to remove for good.")],
    files: FilesArgument = None,
    filename: FilenameOption = None,
    workspace: WorkspaceOption = None,
    reason: Annotated[str, typer.Option(help="Why, recorded in the certificate ledger.")] = "",
    output: OutputOption = Output.text,
) -> None:
    """Revoke a site's certificates (the server refuses them) and delete its kit; it is not re-issued.

    Exit 0 also when the site was revoked already; 3 when NAME is not a site that was ever issued a kit.
    """
    from flarekube.local.workspace import Workspace, default_root
    from flarekube.provisioning import LocalKitStore
    from flarekube.provisioning.kits import revoke_kit
    from flarekube.provisioning.ledger import READMIT_FLAG, decode_ledger

    project = load_bundle_or_fail(inputs(files, filename), output).project
    ws = Workspace(workspace_dir(workspace) or default_root(project.metadata.name))
    if not (ws.kits / "ledger").is_dir():
        fail(f"no certificate ledger in {ws.kits}: no kits were issued there (`flarekube kits`)", Exit.RUNTIME, output)
    store = LocalKitStore(ws.kits)
    ledger = decode_ledger(store.get_ledger())
    issued = [e for e in ledger.entries if e.participant == name]
    if not issued or any(e.kind != "client" for e in issued):
        sites = sorted({e.participant for e in ledger.entries if e.kind == "client"})
        fail(f"NAME: {name!r} is not a site issued a kit in {ws.kits} (sites: {', '.join(sites) or 'none'})",
             Exit.INVALID, output)  # fmt: skip
    already = name in ledger.revoked_for_good()
    if not already:
        ledger = revoke_kit(store, name, reason)
    serials = sorted(e.serial for e in ledger.entries if e.participant == name)
    still_listed = any(s.name == name for s in project.spec.sites)
    if output != Output.text:
        emit({"ok": True, "site": name, "alreadyRevoked": already, "revokedSerials": serials,
              "stillInSpec": still_listed}, output)  # fmt: skip
        return
    verb = "was already revoked" if already else "revoked"
    console.print(f"[yellow]{name}[/] {verb}: certificate serial(s) {', '.join(serials)} are refused by the "
                  f"server from its next start; its kit is deleted from {ws.kits}.", highlight=False)  # fmt: skip
    if still_listed:
        console.print(f"Remove {name} from the FLProject: `flarekube run` refuses to issue it a kit again "
                      f"(unless `flarekube kits {READMIT_FLAG}`).", highlight=False)  # fmt: skip
