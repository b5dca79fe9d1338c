"""The two reconcilers the kopf handlers call: FLProject (apply + status) and the status poll.

Both end in a status dict computed from what was observed; the caller writes it only when it differs
from what is stored (timestamps aside).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from kubernetes import client

from flarekube import flare, naming
from flarekube.kube import admin, faults
from flarekube.kube import project as proj
from flarekube.kube.kitstore import SecretKitStore
from flarekube.kube.observe import children
from flarekube.status.project import project_status

log = logging.getLogger(__name__)


def operator_namespace() -> str | None:
    """Set by the chart from the downward API; NetworkPolicies then admit the operator from there only."""
    return os.environ.get("POD_NAMESPACE") or None


_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(body: dict[str, Any]) -> threading.Lock:
    key = (str(body["metadata"]["namespace"]), str(body["metadata"]["name"]))
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def reconcile_project(api: client.ApiClient, body: dict[str, Any], *, full: bool, poll: bool) -> dict[str, Any]:
    """full: apply every built object (spec changed or operator restarted); otherwise only what is missing.
    poll: ask the server (Flare API) which sites are connected.

    kopf runs a resource's timer concurrently with its change handlers: one lock per project keeps two
    reconciles from issuing kits side by side (the store would refuse the second, but why do the work)."""
    with _lock(body):
        return _reconcile(api, body, full=full, poll=poll)


def _reconcile(api: client.ApiClient, body: dict[str, Any], *, full: bool, poll: bool) -> dict[str, Any]:
    previous = dict(body.get("status") or {})
    t = proj.target(body)  # raises SpecProblem
    kits = proj.store(api, t)
    report = proj.ensure(api, t, kits, memo=not full)
    existing = children(api, t.namespace, t.key)
    objects = proj.desired(t, kits, operator_namespace())
    if full or proj.missing(objects, existing) or report.issued or report.removed:
        proj.apply_all(api, t, objects, existing)
        existing = children(api, t.namespace, t.key)
    connected, flare_error = None, None
    if poll and existing.deployment_ready(naming.server(t.key, t.project.spec.server.name)):
        connected, flare_error = connected_sites(kits, t, report.ca_fingerprint)
    elif poll:
        connected = set()  # no ready server: nobody can be connected
    faults.hit("before-status")
    return project_status(proj.snapshot(t, report, existing, connected, flare_error), previous)


def connected_sites(kits: SecretKitStore, t: proj.Target, fingerprint: str) -> tuple[set[str] | None, str | None]:
    try:
        with admin.session(kits, t.admin, fingerprint) as sess:
            return flare.connected_sites(sess), None
    except Exception as err:  # the Flare API raises bare Exceptions; any failure is "not reachable now"
        log.info("project %s/%s: admin session failed: %s", t.namespace, t.key, err)
        return None, f"the server did not answer the admin client: {type(err).__name__}: {err}"[:300]


def failed_status(body: dict[str, Any], problem: str) -> dict[str, Any]:
    return project_status(proj.failed_snapshot(body, problem), dict(body.get("status") or {}))
