"""What the server received from each site, counted where it arrives (a server-side result filter).

A site's privacy filters run at the site; this filter runs on the server after the result crossed the
network, so it sees exactly what left the site — never a filter's input. It changes nothing. Each result
is summarised (data kind, non-zero entries of all arrays) in the server's log and, when flarekube sets
FLAREKUBE_METRICS_DIR (`flarekube run`), as one JSON line in `<dir>/audit/server.jsonl`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from nvflare.apis.dxo import from_shareable
from nvflare.apis.filter import Filter
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import ReservedHeaderKey, Shareable

from flarekube_workloads.contract import METRICS_DIR_ENV

AUDIT_FILE = Path("audit") / "server.jsonl"


def count(data: dict[str, Any]) -> tuple[int, int]:
    """(non-zero entries, all entries) over every array in a result."""
    nonzero = total = 0
    for value in data.values():
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        if array.dtype.kind in "fiu":
            nonzero += int(np.count_nonzero(array))
            total += int(array.size)
    return nonzero, total


class ResultAudit(Filter):
    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        try:
            dxo = from_shareable(shareable)
        except Exception:  # not a DXO (e.g. an error reply): nothing to count
            return shareable
        if not isinstance(dxo.data, dict):
            return shareable
        peer = fl_ctx.get_peer_context()
        site = peer.get_identity_name() if peer else "?"
        nonzero, total = count(dxo.data)
        record = {
            "site": site,
            "task": shareable.get_header(ReservedHeaderKey.TASK_NAME),
            "round": fl_ctx.get_prop("current_round"),
            "job": fl_ctx.get_job_id(),
            "kind": dxo.data_kind,
            "nonzero": nonzero,
            "total": total,
        }
        self.log_info(fl_ctx, f"received from {site}: {json.dumps(record, sort_keys=True)}")
        folder = os.environ.get(METRICS_DIR_ENV)
        if folder:
            path = Path(folder) / AUDIT_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        return shareable
