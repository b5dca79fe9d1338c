"""The live view of a running job: a progress bar over rounds and a per-site table."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flarekube import flare
from flarekube.local.samples import Sample, latest_by_site, rounds_done


class JobView:
    def __init__(self, job_name: str, rounds: int, sites: list[str]) -> None:
        self.sites = sites
        self.total = rounds
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rounds"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
        )
        self.task = self.progress.add_task(job_name, total=rounds, status="submitting")
        self.connected: set[str] = set(sites)
        self.samples: list[Sample] = []
        self.rounds = 0

    def update(self, samples: list[Sample], status: str, connected: set[str] | None = None,
               progress: flare.JobProgress | None = None) -> None:  # fmt: skip
        """progress: what the server's controller reports through the Flare boundary (as the operator
        reads it); the sites' own metric lines count too, for the rounds the poll did not catch."""
        self.samples = samples
        if connected is not None:
            self.connected = connected
        server = progress.rounds_done if progress is not None else 0
        self.rounds = max(self.rounds, server, rounds_done(samples, self.sites))
        self.progress.update(self.task, completed=self.rounds, status=status)

    def snapshot(self, status: str) -> dict[str, Any]:
        """What `flarekube status` shows of this job: the round and each site's last numbers."""
        latest = latest_by_site(self.samples)
        sites = {}
        for site in self.sites:
            row = latest.get(site, {})
            round_ = row.get("round")
            sites[site] = {"connected": site in self.connected,
                           "round": None if round_ is None or round_ == -1 else int(round_) + 1,
                           "trainLoss": row.get("train_loss"), "valAuc": row.get("val_auc")}  # fmt: skip
        return {"status": status, "round": self.rounds, "rounds": self.total, "sites": sites}

    def table(self) -> Table:
        table = Table(expand=False)
        for column in ("site", "state", "round", "train loss", "val AUC (global model)"):
            table.add_column(column, justify="left" if column in ("site", "state") else "right")
        latest = latest_by_site(self.samples)
        for site in self.sites:
            row = latest.get(site, {})
            state = "connected" if site in self.connected else "[red]disconnected"
            round_ = row.get("round")
            table.add_row(
                site,
                state,
                "-" if round_ is None or round_ == -1 else str(int(round_) + 1),
                _fmt(row.get("train_loss")),
                _fmt(row.get("val_auc")),
            )
        return table

    def __rich__(self) -> Group:
        return Group(self.progress, self.table())


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{float(value):.3f}"
