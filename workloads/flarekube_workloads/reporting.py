"""Per-site metrics as JSON lines, for the `flarekube run` supervisor's live table, CSV and plots.

The supervisor sets ``FLAREKUBE_METRICS_DIR`` for each NVFlare client process; job processes and the
training script (in-process thread or external process) inherit it. Outside flarekube the variable is
unset and recording is a no-op, so the same script runs unchanged under plain NVFlare.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

from flarekube_workloads.contract import METRICS_DIR_ENV


class MetricsRecorder:
    """Appends one JSON line ``{"round", "site", "metric", "value", "time"}`` per metric to
    ``<dir>/<site>.jsonl``."""

    def __init__(self, site: str, metrics_dir: str | os.PathLike[str] | None = None) -> None:
        self.site = site
        directory = metrics_dir if metrics_dir is not None else os.environ.get(METRICS_DIR_ENV)
        self.path: Path | None = Path(directory) / f"{site}.jsonl" if directory else None

    def record(self, round_num: int, metrics: Mapping[str, float | int]) -> dict[str, float]:
        """Write the metrics (if enabled) and return them as plain floats, ready for ``FLModel.metrics``."""
        clean = {k: float(v) for k, v in metrics.items()}
        if self.path is None:
            return clean
        self.path.parent.mkdir(parents=True, exist_ok=True)
        now = time.time()
        # Append + flush per line: the supervisor tails this file while training runs, and a crash
        # mid-round must not lose the lines already written.
        with self.path.open("a", encoding="utf-8") as fh:
            for name, value in clean.items():
                line = {
                    "round": int(round_num),
                    "site": self.site,
                    "metric": name,
                    # JSON has no NaN; an undefined AUC (one class only) becomes null
                    "value": None if math.isnan(value) else value,
                    "time": now,
                }
                fh.write(json.dumps(line) + "\n")
                fh.flush()
        return clean
