"""`flarekube submit DIR --project P`: run a local NVFlare job folder on a cluster's federation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from flarekube.cli.app import Exit, app, console, fail


@app.command()
def submit(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="An NVFlare job folder (e.g. FedJob.export_job's).")],
    project: Annotated[str, typer.Option(metavar="NAME", help="The FLProject whose federation runs it.")],
    namespace: Annotated[str, typer.Option(metavar="NS", help="The FLProject's namespace.")] = "default",
    name: Annotated[str | None, typer.Option(metavar="NAME", help="The FLJob's name (default: the folder's).")] = None,
    rounds: Annotated[int | None, typer.Option(help="Rounds (default: the job's own num_rounds).")] = None,
    min_sites: Annotated[int, typer.Option(help="Sites that must be connected before it starts.")] = 1,
) -> None:
    """Pack DIR into a ConfigMap (at most 900 KiB packed) and create the FLJob that runs it unchanged.

    The folder is checked first (meta, deploy_map, app configs); nothing is created when it is not an
    NVFlare job or too large. The operator checks each site's policy when it submits the job.
    """
    from flarekube.api.types import DNS1123_LABEL
    from flarekube.builders.jobcheck import JobFolderError
    from flarekube.builders.jobpack import job_rounds

    job_name = name or folder.resolve().name.lower().replace("_", "-")
    if not re.fullmatch(DNS1123_LABEL, job_name) or len(job_name) > 52:
        fail(f"--name: {job_name!r} is not a DNS label of at most 52 characters; pass --name", Exit.USAGE)
    try:
        count = rounds or job_rounds(folder)
        if count is None:
            fail(f"{folder}: the job names no num_rounds in its server workflow; pass --rounds", Exit.USAGE)
        from flarekube.kube.submit import SubmitError, submit_folder

        submit_folder(folder.resolve(), project=project, namespace=namespace, name=job_name, rounds=count,
                      min_sites=min_sites)  # fmt: skip
    except JobFolderError as err:
        fail(str(err), Exit.INVALID)
    except SubmitError as err:
        fail(str(err), Exit.RUNTIME)
    console.print(f"[green]submitted[/] FLJob {namespace}/{job_name} ({count} rounds) with its folder in "
                  f"ConfigMap {job_name}-job; follow it: kubectl get fljob -n {namespace} {job_name} -w")  # fmt: skip
