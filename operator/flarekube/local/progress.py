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
        self.total = rounds
        self.reported = 0  # the most rounds the server itself reported done (flare.job_progress)
        self.tracked: dict[str, dict[str, float]] = {}  # site -> what it logs through NVFlare's tracking API

    def update(self, samples: list[Sample], status: str, connected: set[str] | None = None,
               progress: flare.JobProgress | None = None, completed: bool = False) -> None:  # fmt: skip
        """progress: what the server reports through the Flare boundary (as the operator reads it); the
        sites' own metric lines count too, for the rounds the poll did not catch. completed: NVFlare says
        the job finished COMPLETED, so its workflow ran every round (the last may fall between two polls)."""
        self.samples = samples
        if connected is not None:
            self.connected = connected
        server = progress.rounds_done if progress is not None else 0
        self.reported = max(self.reported, server)
        if progress is not None and progress.site_metrics:
            self.tracked = {site: dict(tags) for site, tags in progress.site_metrics.items()}
        self.rounds = max(self.rounds, server, rounds_done(samples, self.sites), self.total if completed else 0)
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
        if self.tracked and not self.samples:
            return self._tracked_table()
        table = Table(expand=False)
        for column in ("site", "state", "round", "train loss", "val AUC (global model)"):
            table.add_column(column, justify="left" if column in ("site", "state") else "right")
        latest = latest_by_site(self.samples)
        for site in self.sites:
            row = latest.get(site, {})
            round_ = row.get("round")
            table.add_row(
                site,
                self._state(site),
                "-" if round_ is None or round_ == -1 else str(int(round_) + 1),
                _fmt(row.get("train_loss")),
                _fmt(row.get("val_auc")),
            )
        return table

    def _tracked_table(self) -> Table:
        """A user's job: one column per metric its sites log through NVFlare's tracking API, `-` where a
        site logged none of it."""
        tags = sorted({tag for values in self.tracked.values() for tag in values})
        table = Table(expand=False)
        for column in ("site", "state", *tags):
            table.add_column(column, justify="left" if column in ("site", "state") else "right")
        for site in self.sites:
            values = self.tracked.get(site, {})
            table.add_row(site, self._state(site), *(_fmt(values.get(tag)) for tag in tags))
        return table

    def _state(self, site: str) -> str:
        return "connected" if site in self.connected else "[red]disconnected"

    def __rich__(self) -> Group:
        return Group(self.progress, self.table())


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{float(value):.3f}"
