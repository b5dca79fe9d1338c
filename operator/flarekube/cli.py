"""The `flarekube` command: run a federation on this machine, validate specs, and more."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flarekube.api import SpecError, load_bundle, load_documents

app = typer.Typer(
    help=(
        "flarekube: NVIDIA FLARE federations from one YAML — on this machine (`flarekube run`) "
        "or on Kubernetes (the operator)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


# The kit options mean the same for `run` and `kits`: one definition, one help text.
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(help="Kits and run state, kept 0700 (default: ~/.local/state/flarekube/<metadata.name>)."),
]
ReissueKitsOption = Annotated[
    bool, typer.Option(help="Re-issue kits when the server's name or ports changed (same root CA).")
]
NewRootCAOption = Annotated[
    bool,
    typer.Option(help="Create a NEW root CA (project renamed or CA state lost). Every issued kit stops working."),
]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="FLProject/FLJob YAML files (multi-document allowed).")],
) -> None:
    """Check FLProject/FLJob documents; every problem is named by its field path."""
    try:
        docs = load_documents(files)
        if any(d.kind == "FLProject" for _, d in docs) and any(d.kind == "FLJob" for _, d in docs):
            load_bundle(files)  # cross-document rules too
    except SpecError as error:
        _fail(str(error), 2)
    for path, doc in docs:
        console.print(f"[green]valid[/] {doc.kind} {doc.metadata.name} ({path})")


@app.command()
def run(
    files: Annotated[list[Path], typer.Argument(help="project.yaml job.yaml, or one multi-document file.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: runs/<job name>).")] = None,
    workspace: WorkspaceOption = None,
    connect_timeout: Annotated[float, typer.Option(help="Seconds every site gets to connect.")] = 60.0,
    reissue_kits: ReissueKitsOption = False,
    new_root_ca: NewRootCAOption = False,
    compare: Annotated[bool, typer.Option(help="Also train local-only baselines and compare AUCs.")] = True,
) -> None:
    """Run a real NVFlare federation on this machine: server + one process per site, mTLS on 127.0.0.1.

    Provisions (or reuses) the kits, starts everything, submits each FLJob with the Flare API,
    shows progress per round and writes global_model.pt, metrics.csv, summary.json and plot.png.
    """
    from flarekube.local.federation import FederationError
    from flarekube.local.runner import RunError, RunOptions
    from flarekube.local.runner import run as run_local
    from flarekube.local.workspace import PortInUse
    from flarekube.provisioning import KitStoreRefusal

    try:
        bundle = load_bundle(files)
    except SpecError as error:
        _fail(str(error), 2)
    target = out or Path("runs") / (
        bundle.jobs[0].metadata.name if bundle.jobs else bundle.project.metadata.name
    )
    options = RunOptions(
        out=target,
        workspace=workspace,
        connect_timeout=connect_timeout,
        reissue_kits=reissue_kits,
        new_root_ca=new_root_ca,
        compare=compare,
    )
    try:
        run_local(bundle, options, console)
    except KeyboardInterrupt:
        _fail("interrupted: every NVFlare process was stopped", 130)
    except KitStoreRefusal as error:
        _fail(f"kits not issued: {error}", 4)
    except (RunError, FederationError, PortInUse) as error:
        _fail(str(error), 1)


@app.command()
def kits(
    files: Annotated[list[Path], typer.Argument(help="The FLProject file (jobs in it are ignored).")],
    workspace: WorkspaceOption = None,
    reissue_kits: ReissueKitsOption = False,
    new_root_ca: NewRootCAOption = False,
) -> None:
    """Issue the project's startup kits for `flarekube run` (only what is missing) and show them.

    Kits already issued are kept byte for byte; the root CA is never replaced without --new-root-ca.
    """
    from rich.table import Table

    from flarekube.local.federation import issue_kits
    from flarekube.local.workspace import PortInUse, Workspace, default_root
    from flarekube.provisioning import KitStoreRefusal

    try:
        bundle = load_bundle(files)
    except SpecError as error:
        _fail(str(error), 2)
    project = bundle.project
    ws = Workspace(workspace or default_root(project.metadata.name))
    try:
        report = issue_kits(project, ws, reissue_kits=reissue_kits, new_root_ca=new_root_ca)
    except KitStoreRefusal as error:
        _fail(f"kits not issued: {error}", 4)
    except PortInUse as error:
        _fail(str(error))
    table = Table(
        title=f"{project.project_name}: kits in {ws.kits} (root CA sha256 {report.ca_fingerprint[:16]}…)"
    )
    for column in ("participant", "this run", "certificate expires"):
        table.add_column(column)
    state = {**dict.fromkeys(report.kept, "kept"), **dict.fromkeys(report.issued, "[green]issued")}
    for name in sorted(report.cert_expiry):
        table.add_row(name, state.get(name, ""), f"{report.cert_expiry[name]:%Y-%m-%d}")
    for name in report.removed:
        table.add_row(name, "[yellow]removed", "")
    console.print(table)
    console.print(
        f"root CA expires {report.ca_expires:%Y-%m-%d}" + (" (created now)" if report.ca_created else "")
    )


@app.command()
def crds(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the CRD files (default: the chart's crds/ folder).")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only report whether the files drifted.")] = False,
) -> None:
    """Render the FLProject and FLJob CRDs from the API models into the Helm chart."""
    from flarekube import crd

    folder = out or crd.CHART_CRDS
    if check:
        stale = crd.drift(folder)
        if stale:
            _fail(f"{', '.join(stale)} in {folder} drifted from the models; run: {crd.REGENERATE}")
        console.print(f"[green]up to date[/] {folder}")
        return
    for path in crd.write(folder):
        console.print(f"wrote {path}")


@app.command()
def operator(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Watch this namespace (repeatable).")
    ] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace.")] = False,
    liveness: Annotated[str, typer.Option(help="kopf health endpoint (liveness and readiness).")] = (
        "http://0.0.0.0:8080/healthz"
    ),
    metrics_port: Annotated[int, typer.Option(help="Prometheus /metrics port (0: off).")] = 9090,
    log_format: Annotated[str, typer.Option(help="json (structured) or plain.")] = "json",
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Run the Kubernetes operator: FLProject -> kits, server, sites; FLJob -> a submitted NVFlare job."""
    from flarekube.operator_main import run as run_operator

    if bool(namespace) == all_namespaces:
        _fail("give --all-namespaces or at least one --namespace", 2)
    run_operator(namespace or [], all_namespaces, liveness or None, metrics_port or None, log_format, verbose)


@app.command()
def results(
    job: Annotated[str, typer.Argument(help="FLJob name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The FLJob's namespace.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Output folder (default: runs/<job>).")] = None,
) -> None:
    """Fetch a finished FLJob's global model (kept on the server's PVC) into OUT/global_model.pt."""
    from flarekube.kube.results import ResultsError, fetch_global_model

    target = out or Path("runs") / job
    try:
        path, summary = fetch_global_model(namespace, job, target)
    except ResultsError as error:
        _fail(str(error), 1)
    console.print(f"[green]fetched[/] {path} ({summary})")


@app.command()
def version() -> None:
    """Print flarekube's and NVFlare's versions."""
    from importlib.metadata import version as dist_version

    console.print(
        f"flarekube {dist_version('flarekube')}, nvflare {dist_version('nvflare')}, python {sys.version.split()[0]}"
    )


def main() -> None:  # pragma: no cover - console script entry
    app()
