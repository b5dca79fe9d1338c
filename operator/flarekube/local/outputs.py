"""What a finished run leaves for people: metrics.csv, summary.json, plot.png and the global model."""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flarekube_workloads.contract import PERSONAL_MODEL_FILE

from flarekube.local.samples import Sample

PLOTTED = (("val_auc", "validation AUC (global model, site's own data)"), ("train_loss", "train loss"))


def write_metrics_csv(samples: list[Sample], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["round", "site", "metric", "value"])
        for s in sorted(samples, key=lambda s: (s.round, s.site, s.metric)):
            writer.writerow([s.round + 1, s.site, s.metric, "" if s.value is None else s.value])


def write_summary(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def write_plot(samples: list[Sample], sites: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; the CLI writes a file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(6 * len(PLOTTED), 4.2), constrained_layout=True)
    for ax, (metric, label) in zip(axes, PLOTTED, strict=True):
        for site in sites:
            points = sorted((s.round + 1, s.value) for s in samples if s.site == site and s.metric == metric)
            xs = [r for r, v in points if v is not None]
            ys = [v for _, v in points if v is not None]
            if xs:
                ax.plot(xs, ys, marker="o", label=site)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(label)
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- what a job leaves in --out, whatever it is ------------------------------------------------------------

# What a server-side result may be: PyTorch / NumPy / joblib / pickle / safetensors models, and JSON results
# (statistics, cross-site validation) -- the files a workflow writes into the server app's folder.
RESULT_SUFFIXES = (".pt", ".pth", ".npy", ".npz", ".joblib", ".pkl", ".safetensors", ".json")
# NVFlare's own bookkeeping in a job's server workspace: not results.
BOOKKEEPING = {"meta.json", "fl_app.txt", "config_fed_server.json", "config_fed_client.json", "resources.json",
               "log_config.json", "job_meta.json", "log.json", "stats_pool_summary.json"}  # fmt: skip
FLAREKUBE_MODEL = "FL_global_model.pt"
HISTORY = "history"


def keep_previous(out: Path) -> Path | None:
    """Move a previous run's outputs from `out` into out/history/<its time>/, so `out` holds only this run
    (scripts keep reading out/summary.json) and no earlier result is overwritten. Returns where they went."""
    previous = [p for p in out.iterdir() if p.name != HISTORY] if out.is_dir() else []
    if not previous:
        return None
    summary = out / "summary.json"
    stamp = (summary if summary.is_file() else max(previous, key=lambda p: p.stat().st_mtime)).stat().st_mtime
    name = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = out / HISTORY / name
    n = 1
    while dest.exists():
        n += 1
        dest = out / HISTORY / f"{name}-{n}"
    dest.mkdir(parents=True)
    for path in previous:
        shutil.move(str(path), dest / path.name)
    return dest


def server_workspace(result_dir: Path) -> Path:
    """Where a downloaded job result keeps the server's job workspace (NVFlare 2.9: <result>/workspace/)."""
    return result_dir / "workspace" if (result_dir / "workspace").is_dir() else result_dir


def collect_results(result_dir: Path, out: Path) -> list[Path]:
    """Copy the server-side results of a downloaded job (files its server workspace holds) into `out`.

    flarekube's own model keeps its usual name, global_model.pt; anything else keeps the name the job gave
    it (model_param.joblib, FL_global_model.npy, stats.json, ...). The submitted job's copy (<result>/job/),
    configs, code, logs and NVFlare's signatures are not results."""
    found: list[Path] = []
    workspace = server_workspace(result_dir)
    for path in sorted(workspace.rglob("*")):
        rel = path.relative_to(workspace)
        if (not path.is_file() or path.suffix not in RESULT_SUFFIXES or path.name in BOOKKEEPING
                or any(part.startswith(".") or part in ("config", "custom", "job") for part in rel.parts)):  # fmt: skip
            continue
        dest = out / ("global_model.pt" if path.name == FLAREKUBE_MODEL else path.name)
        if dest in found:
            dest = out / "_".join(rel.parts)
        shutil.copy2(path, dest)
        found.append(dest)
    return found


def collect_logs(logs: dict[str, Path], out: Path) -> dict[str, Path]:
    """Each participant's log of this job as out/logs/<name>.log (the sites keep theirs in
    <workspace>/<job id>/log.txt, the server's comes with the downloaded result)."""
    copied: dict[str, Path] = {}
    for name, log in logs.items():
        if log.is_file():
            (out / "logs").mkdir(parents=True, exist_ok=True)
            copied[name] = Path(shutil.copy2(log, out / "logs" / f"{name}.log"))
    return copied


def copy_personal_models(job_dirs: Mapping[str, Path], out: Path) -> dict[str, str]:
    """Each site's personal model (Ditto), found in its own job folder, as OUT/personalized/<site>.pt;
    returns {site: path} for the sites that kept one (none for every other algorithm)."""
    copied: dict[str, str] = {}
    for site, job_dir in job_dirs.items():
        found = sorted(job_dir.rglob(PERSONAL_MODEL_FILE)) if job_dir.is_dir() else []
        if found:
            target = out / "personalized" / f"{site}.pt"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found[0], target)
            copied[site] = str(target)
    return copied
