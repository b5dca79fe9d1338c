"""FLProject: reconcile on create/update/resume, poll every few seconds, release the CA on delete."""

from __future__ import annotations

from typing import Any

import kopf

from flarekube.controller import project as projects
from flarekube.handlers.common import guarded
from flarekube.kube import config

PLURAL = "flprojects.v1alpha1.flarekube.io"
POLL_SECONDS = 5.0


@kopf.on.resume(PLURAL)
@kopf.on.create(PLURAL)
@kopf.on.update(PLURAL, field="spec")
def apply_project(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    guarded(body, patch, lambda: projects.reconcile_project(config.shared(), dict(body), full=True, poll=False),
            lambda problem: projects.failed_status(dict(body), problem))  # fmt: skip


@kopf.timer(PLURAL, interval=POLL_SECONDS, initial_delay=1.0, idle=0)
def poll_project(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    guarded(body, patch, lambda: projects.reconcile_project(config.shared(), dict(body), full=False, poll=True),
            lambda problem: projects.failed_status(dict(body), problem), permanent=False)  # fmt: skip


@kopf.on.delete(PLURAL)
def release_ca(body: kopf.Body, **_: Any) -> None:
    # Kits and the CA are owned by the project; only the CA's finalizer stands in the way of GC.
    projects.release(config.shared(), dict(body))
