"""`flarekube init DIR`: a project, a job and a data layout to edit, which `validate` and `plan` accept as written.

The documents are checked by the one loader before anything is written; DIR must be empty or absent.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Annotated

import typer

from flarekube.api import SpecError, load_bundle
from flarekube.api.documents import STDIN
from flarekube.cli.app import Exit, app, console, fail, spec_error
from flarekube.cli.app import Output as _Output

PROJECT = """\
# The federation: one server and the sites that train together (`flarekube explain FLProject.spec`).
# `flarekube run project.yaml job.yaml` runs it on this machine (real NVFlare, mTLS on 127.0.0.1);
# `kubectl apply -f .` runs it on a cluster with the flarekube operator (there, give each site
# `data: {{hostPath: ...}}` or `data: {{pvc: ...}}` instead of localPath).
apiVersion: flarekube.io/v1alpha1
kind: FLProject
metadata:
  # The federation's identity: its kits, root CA and local workspace are kept under this name.
  name: {name}
spec:
  # NVFlare's project name, written into every certificate; fixed once kits are issued.
  # projectName: {name}
  server:
    flPort: 8002     # the sites connect here
    adminPort: 8003  # admins and flarekube submit jobs here
  sites:  # one entry per hospital / institution; name and org end up in its certificate
{sites}
  admins:  # people who may use NVFlare's admin console on this federation
    - email: admin@example.org
      org: org_1
"""

SITE = """\
    - name: site-{i}
      org: org_{i}
      data: {{localPath: data/site-{i}}}  # relative to this file; the site reads only this folder
"""

JOB = """\
# A training run in the project above (`flarekube explain FLJob.spec`).
apiVersion: flarekube.io/v1alpha1
kind: FLJob
metadata:
  name: {name}-fedavg
spec:
  projectRef: {name}  # the FLProject's metadata.name
  workload:
    kind: clinical-tabular  # or chest-xray-cnn, or jobFolder (your own NVFlare job folder)
    localEpochs: 1          # epochs each site trains per round
    learningRate: 0.001
    batchSize: 32
  algorithm:
    name: fedavg  # fedavg, fedprox (with mu) or fedopt (with serverOptimizer)
  rounds: 5
  minSites: {sites}      # sites that must take part for the job to start
  timeoutSeconds: 3600   # the job is aborted after this
  seed: 0                # every site's numpy/torch seed: the same inputs give the same model
  # Each site's files, relative to its data folder; these are the defaults, so this can go.
  data:
{files}"""

FILES = "    site-{i}: {{train: site-{i}.csv, test: site-{i}_test.csv}}\n"

DATA_README = """\
# Data: one folder per site

Each site trains only on its own folder (`spec.sites[].data.localPath` in project.yaml); no row ever
leaves it. On a cluster each folder is that site's `hostPath` or PVC instead.

{layout}
The `clinical-tabular` workload reads, per site (names set in job.yaml's `spec.data`):

- `site-N.csv`: training rows; `site-N_test.csv`: the rows the global model is validated on (AUC);
- comma-separated, **no header row**; column 0 is the label (0 or 1), every other column a numeric
  feature; every site has the same number of columns.

A worked example with real data (colorectal cancer, 62 genes, four hospitals) is `examples/data/crc/`
in the flarekube repository: copy `site-1.csv` and `site-1_test.csv` into `site-1/`, and so on.

Then: `flarekube validate project.yaml job.yaml`, `flarekube plan project.yaml` (which kits would be
issued) and `flarekube run project.yaml job.yaml` (fails early, naming the site, while a file is missing).
"""


def scaffold(name: str, sites: int) -> dict[str, str]:
    """The files of a new project, relative to its folder."""
    numbers = range(1, sites + 1)
    layout = "".join(f"    site-{i}/site-{i}.csv  site-{i}/site-{i}_test.csv\n" for i in numbers)
    files = {
        "project.yaml": PROJECT.format(name=name, sites="".join(SITE.format(i=i) for i in numbers).rstrip("\n")),
        "job.yaml": JOB.format(name=name, sites=sites, files="".join(FILES.format(i=i) for i in numbers)),
        "data/README.md": DATA_README.format(layout=layout),
    }
    files.update({f"data/site-{i}/.keep": "" for i in numbers})
    return files


def default_name(folder: Path) -> str:
    """A Kubernetes name from the folder's name: lowercase, [a-z0-9-], no leading/trailing dash."""
    return re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")[:40].strip("-") or "my-federation"


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A new or empty folder for the project.")],
    name: Annotated[str | None, typer.Option(metavar="NAME", help="metadata.name (default: from DIR).")] = None,
    sites: Annotated[int, typer.Option(metavar="N", min=1, max=20, help="How many sites to scaffold.")] = 2,
) -> None:
    """Scaffold a project to edit: project.yaml (FLProject), job.yaml (FLJob) and data/ with a README.

    Refuses (exit 4, nothing written) a DIR that exists and is not an empty folder.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is not a folder" if not folder.is_dir() else "is not empty"
        fail(f"{folder} {what}: init writes only into a new or empty folder (nothing written)", Exit.REFUSED)
    files = scaffold(name or default_name(folder), sites)
    try:  # the loader that `validate` runs, on exactly these bytes, before anything is written
        text = files["project.yaml"] + "---\n" + files["job.yaml"]
        load_bundle([STDIN], stdin=io.BytesIO(text.encode()))
    except SpecError as error:
        spec_error(error, _Output.text)
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    console.print(f"[green]created[/] {folder}/: project.yaml, job.yaml, data/ (one folder per site, see "
                  f"data/README.md)\n  next: put each site's CSVs in data/site-N/, then\n"
                  f"  flarekube validate {folder}/project.yaml {folder}/job.yaml && "
                  f"flarekube run {folder}/project.yaml {folder}/job.yaml", highlight=False)  # fmt: skip
