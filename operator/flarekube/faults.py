"""Fault injection for the crash-safety tests: die at a named point, once per pod.

FLAREKUBE_FAULT_POINT=after-ca-secret (or a comma-separated list) makes the operator `os._exit` when it
reaches that point; a marker in FLAREKUBE_FAULT_MARKER_DIR (an emptyDir, which survives the container
restart) makes the restarted container run through. Unset (always, outside tests): a no-op.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

POINTS = ("after-ca-secret", "after-kit-secret", "after-kits", "after-server-apply", "after-site-apply",
          "before-status", "after-submit")  # fmt: skip
log = logging.getLogger(__name__)


def hit(point: str) -> None:
    wanted = os.environ.get("FLAREKUBE_FAULT_POINT", "")
    if point not in wanted.split(","):
        return
    marker = Path(os.environ.get("FLAREKUBE_FAULT_MARKER_DIR", "/tmp")) / f"flarekube-fault-{point}"
    if marker.exists():
        return
    marker.write_text("hit\n")
    log.warning("fault injection: exiting at %s", point)
    logging.shutdown()
    os._exit(17)
