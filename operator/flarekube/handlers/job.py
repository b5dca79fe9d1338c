"""FLJob: submit and follow it with a timer; deleting a running FLJob aborts its NVFlare job."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from flarekube.controller import job as jobs
from flarekube.handlers.common import guarded
from flarekube.kube import config

PLURAL = "fljobs.v1alpha1.flarekube.io"
log = logging.getLogger(__name__)


@kopf.timer(PLURAL, interval=jobs.POLL_SECONDS, initial_delay=0.5)
def follow_job(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    guarded(body, patch, lambda: jobs.reconcile_job(config.shared(), dict(body)),
            lambda problem: jobs.failed_status(dict(body), problem), permanent=False)  # fmt: skip


@kopf.on.delete(PLURAL)
def abort_job(body: kopf.Body, **_: Any) -> None:
    log.info("FLJob %s deleted: %s", body["metadata"]["name"], jobs.abort(config.shared(), dict(body)))
