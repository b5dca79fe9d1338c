"""Operator-wide kopf settings: where kopf keeps its own bookkeeping, how it posts, how it logs."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from flarekube.naming import GROUP


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's progress and diff-base live in annotations under our own prefix, never in .status.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events for problems; state changes are posted by write_status
    settings.watching.server_timeout = 270  # re-establish watches well within API server limits
    settings.execution.max_workers = 8  # sync handlers run in threads; Flare API calls block
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # kopf's own calls (patches, Events; not the watch streams, bounded by server_timeout) are bounded too.
    settings.networking.request_timeout = 30
