"""What a finished run leaves for people: metrics.csv, summary.json, plot.png and the global model."""

from __future__ import annotations

import csv
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
