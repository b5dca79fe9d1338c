"""Read the per-site metric lines the workloads append while a job runs (one JSONL file per site)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    round: int
    site: str
    metric: str
    value: float | None


def read_samples(folder: Path) -> list[Sample]:
    out: list[Sample] = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
                out.append(Sample(int(row["round"]), str(row["site"]), str(row["metric"]), row["value"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line being written right now; it is complete on the next read
    return out


def latest_by_site(samples: list[Sample]) -> dict[str, dict[str, float | int | None]]:
    """site -> {"round": last round seen, metric: last value}."""
    table: dict[str, dict[str, float | int | None]] = {}
    for s in samples:
        row = table.setdefault(s.site, {"round": -1})
        if s.round >= int(row["round"] or 0):
            row["round"] = s.round
            row[s.metric] = s.value
    return table


def rounds_done(samples: list[Sample], sites: list[str]) -> int:
    """Rounds every site has reported (a round counts once all its sites have sent their update)."""
    if not sites:
        return 0
    last = {site: -1 for site in sites}
    for s in samples:
        if s.site in last:
            last[s.site] = max(last[s.site], s.round)
    return min(last.values()) + 1
