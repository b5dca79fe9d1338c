"""`flarekube crds`, `operator`, `results` and `version`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from flarekube.cli.app import Exit, Output, OutputOption, app, console, emit, fail
from flarekube.preflight import preflight_command


@app.command()
def crds(
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Write the CRD files into DIR (e.g. charts/flarekube/crds); default: stdout."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only report whether the chart's files drifted.")] = False,
) -> None:
    """Render the FLProject and FLJob CRDs from the API models (stdout, or --out DIR)."""
    from flarekube import crd

    if check:
        folder = out or crd.CHART_CRDS
        stale = crd.drift(folder)
        if stale:
            fail(f"{', '.join(stale)} in {folder} drifted from the models; run: {crd.REGENERATE}")
        console.print(f"[green]up to date[/] {folder}", highlight=False)
        return
    if out is None:
        sys.stdout.write("---\n".join(crd.render().values()))
        return
    if out.exists() and not out.is_dir():
        fail(f"--out: {out} exists and is not a folder", Exit.USAGE)
    for path in crd.write(out):
        console.print(f"wrote {path}", highlight=False)


@app.command()
def operator(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", metavar="NS", help="Watch this namespace (repeatable).")
    ] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace.")] = False,
    liveness: Annotated[str, typer.Option(metavar="URL", help="kopf health endpoint (liveness and readiness).")] = (
        "http://0.0.0.0:8080/healthz"
    ),
    metrics_port: Annotated[int, typer.Option(metavar="PORT", help="Prometheus /metrics port (0: off).")] = 9090,
    log_format: Annotated[str, typer.Option(metavar="FORMAT", help="json (structured) or plain.")] = "json",
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Run the Kubernetes operator: FLProject -> kits, server, sites; FLJob -> a submitted NVFlare job."""
    from flarekube.operator_main import run as run_operator

    if bool(namespace) == all_namespaces:
        fail("give --all-namespaces or at least one --namespace", Exit.USAGE)
    run_operator(namespace or [], all_namespaces, liveness or None, metrics_port or None, log_format, verbose)


@app.command()
def results(
    job: Annotated[str, typer.Argument(metavar="JOB", help="FLJob name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", metavar="NS", help="The FLJob's namespace.")] = (
        "default"
    ),
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="Output folder (default: runs/<job>).")] = None,
    output: OutputOption = Output.text,
    model: Annotated[str, typer.Option(metavar="FILE", help="The result's file name on the server (a jobFolder "
                                       "job's own, e.g. model_param.joblib).")] = "FL_global_model.pt",
) -> None:
    """Fetch a finished FLJob's global model (kept on the server's PVC) into OUT/global_model.pt."""
    from flarekube.kube.results import ResultsError, fetch_global_model

    target = out or Path("runs") / job
    if "/" in model or not model.strip():
        fail(f"--model: {model!r} must be a file name", Exit.USAGE, output)
    try:
        path, summary = fetch_global_model(namespace, job, target, model=model)
    except ResultsError as error:
        fail(str(error), Exit.RUNTIME, output)
    if output != Output.text:
        emit({"ok": True, "model": str(path), **json.loads((target / "summary.json").read_text())}, output)
        return
    console.print(f"[green]fetched[/] {path} ({summary})", highlight=False)


@app.command()
def version() -> None:
    """Print flarekube's, NVFlare's and Python's versions."""
    from importlib.metadata import version as dist_version

    console.print(
        f"flarekube {dist_version('flarekube')}, nvflare {dist_version('nvflare')}, python {sys.version.split()[0]}",
        highlight=False,
    )


# `flarekube preflight --region R --gpu-instance-type T --gpus N [--bucket B]`: AWS checks before `pulumi up`
# (infra/ runs the same checks first).
app.command(name="preflight")(preflight_command)
