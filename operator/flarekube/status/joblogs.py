"""The first ERROR lines of a job's logs: what a failed job says about itself, one line deep instead of a folder.

NVFlare writes each participant's log of a job to `<workspace>/<job id>/log.txt` (and the server's log
travels in the job's downloaded result). A failed job's cause is almost always in its first ERROR lines
(an unsafe component, an import error, an exception in the training script); later ones are the fallout.
Pure: text in, lines out; `flarekube run` prints them, the operator puts them in the FLJob's status message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# NVFlare's log format: "2026-12-02 05:40:01,123 - Name - ERROR - [identity=...] - message"
_ERROR = re.compile(r" - (ERROR|CRITICAL) - ")
LINE_LIMIT = 300  # characters kept of one line: a traceback line or a huge repr must not flood the status
PER_PARTICIPANT = 3


_RECORD = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")  # a log record starts with its time


def first_errors(lines: Iterable[str], limit: int = PER_PARTICIPANT) -> list[str]:
    """The first `limit` ERROR records; a record whose message is a traceback is shown with its last line
    (the exception itself), which NVFlare logs on continuation lines below the record."""
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if _RECORD.match(line) or current is None:
            if current is not None and len(records) >= limit:
                break
            current = [line.rstrip()] if _ERROR.search(line) else None
            if current is not None:
                records.append(current)
        elif line.strip():
            current.append(line.strip())
    out = []
    for record in records[:limit]:
        text = record[0] if len(record) == 1 else f"{record[0]} ... {record[-1]}"
        out.append(text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…")
    return out


def error_summary(logs: Mapping[str, Iterable[str]], limit: int = PER_PARTICIPANT) -> str:
    """`participant: line` for each participant's first ERROR lines ("" when none logged an error)."""
    parts = [f"{name}: {line}" for name, lines in logs.items() for line in first_errors(lines, limit)]
    return "\n".join(parts)
