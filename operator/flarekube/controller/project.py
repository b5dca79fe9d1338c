"""Reconcile one FLProject: parse -> issue kits -> observe -> build -> apply -> ask the server -> status.

Called by the kopf handlers (handlers/project.py); knows nothing about kopf. Spec problems raise
`SpecProblem` (never fixed by retrying), everything else propagates for a retry.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flarekube import faults, flare, naming
from flarekube.api.errors import SpecProblem
from flarekube.api.status import FLProjectStatus
from flarekube.builders.common import Obj
from flarekube.builders.connection import for_kit, spec_ports
from flarekube.builders.project import (
    Target,
    desired,
    owner_of,
    rendered_config,
    site_deployments,
    target,
    without_sites,
)
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.kube import apply as k
from flarekube.kube.apply import Api
from flarekube.kube.kitstore import SecretKitStore
from flarekube.kube.observe import Children, children
from flarekube.provisioning import KitReport, KitStoreRefusal, ensure_kits, materialize
from flarekube.provisioning.codec import KIT_MANIFEST, decode_kit
from flarekube.provisioning.ledger import decode_ledger
from flarekube.status.project import ProjectSnapshot, SiteObservation, project_status

log = logging.getLogger(__name__)

# One admin session per FLProject (namespace, name), shared by the project's and its jobs' reconciles.
SESSIONS = flare.SessionPool()


def operator_namespace() -> str | None:
    """Set by the chart from the downward API; NetworkPolicies then admit the operator from there only."""
    return os.environ.get("POD_NAMESPACE") or None


def monitoring_namespace() -> str | None:
    """The namespace Prometheus scrapes from (chart `monitoring.namespace`); None: no scrape rule."""
    return os.environ.get("FLAREKUBE_MONITORING_NAMESPACE") or None


def allowed_host_paths() -> tuple[str, ...]:
    """Node folders sites may mount as hostPath data: the chart's `allowedHostPaths`, colon-separated in
    FLAREKUBE_ALLOWED_HOST_PATHS; none by default (PVCs only)."""
    return tuple(p for p in os.environ.get("FLAREKUBE_ALLOWED_HOST_PATHS", "").split(":") if p)


def store(api: Api, t: Target) -> SecretKitStore:
    return SecretKitStore(api, t.owner, t.name, fault=faults.hit)


def admin_session(api: Api, t: Target, fingerprint: str) -> Any:
    """The project's pooled admin session (a context manager); the kit is read from its Secret."""
    kits = store(api, t)
    # Its fed_admin.json is rendered for the spec's admin port: a port change opens a new session there.
    ports = spec_ports(t.project)
    return SESSIONS.session((t.namespace, t.name), f"{fingerprint}:{ports.admin}", t.admin,
                            lambda dest: materialize(kits, t.admin, dest, for_kit(ports)))  # fmt: skip


# --- the steps ----------------------------------------------------------------------------------------


@dataclass
class ProjectReconcile:
    """What one reconcile has learnt so far; each step reads what earlier steps filled in."""

    api: Api
    body: dict[str, Any]
    full: bool  # apply every built object (spec changed or operator restarted); else only what is missing
    poll: bool  # ask the server (Flare API) which sites are connected
    t: Target = field(init=False)
    kits: SecretKitStore = field(init=False)
    report: KitReport = field(init=False)
    existing: Children = field(init=False)
    objects: list[Obj] = field(default_factory=list)
    connected: set[str] | None = None
    flare_error: str | None = None


def parse(r: ProjectReconcile) -> None:
    r.t = target(r.body, allowed_host_paths())  # raises SpecProblem
    r.kits = store(r.api, r.t)
    # A site revoked for good in the ledger gets no kit and no Deployment (ensure_kits and apply_changes
    # then remove both), even while the spec still lists it; its serials stay refused by the server.
    r.t = without_sites(r.t, decode_ledger(r.kits.get_ledger()).revoked_for_good())


# (namespace, project) -> (what the kit Secrets and the spec looked like, the report for it)
_reports: dict[tuple[str, str], tuple[tuple[object, ...], KitReport]] = {}


def last_report(namespace: str, name: str) -> KitReport | None:
    """The latest kit report of a project (its ledger, CA expiry, renewals): the certificate gauges read it."""
    cached = _reports.get((namespace, name))
    return cached[1] if cached else None


def _signature(t: Target, kits: SecretKitStore) -> tuple[object, ...]:
    versions = sorted((n, str(kits.kit_secret(n)["metadata"].get("resourceVersion"))) for n in kits.kit_names())
    return (t.owner.uid, t.generation, t.host, tuple(versions))


def issue_kits(r: ProjectReconcile) -> None:
    """Issue missing kits only. KitStoreRefusal (e.g. server name changed) is a SpecProblem: it needs a human.

    The status poll (not full) reuses the last full check's report when neither the spec nor any kit
    Secret changed since, instead of decoding every certificate again (the poll's main CPU cost).
    Change handlers and restarts always run the full check."""
    t, key = r.t, (r.t.namespace, r.t.name)
    window = datetime.timedelta(days=t.project.spec.certificates.renew_before_days)
    if not r.full and key in _reports and _reports[key][0] == _signature(t, r.kits):
        cached = _reports[key][1]
        now = datetime.datetime.now(datetime.timezone.utc)
        if not any(expiry - window <= now for expiry in cached.cert_expiry.values()):
            r.report = cached
            return  # otherwise a renewal is due: the full check below renews it
    try:
        r.report = ensure_kits(provisioning_inputs(t.project, t.host, humans=False), r.kits)
    except KitStoreRefusal as err:
        raise SpecProblem(f"kits not issued: {err}") from None
    faults.hit("after-kits")
    _reports[key] = (_signature(t, r.kits), r.report)


def observe(r: ProjectReconcile) -> None:
    r.existing = children(r.api, r.t.namespace, r.t.name)


def build(r: ProjectReconcile) -> None:
    blobs = {name: r.kits.get_kit(name) for name in r.t.participants}
    manifests = {name: kit[KIT_MANIFEST] for name, kit in blobs.items()}
    # Each participant's local/ (its policy) and connection file (the ports): ConfigMaps apart from its
    # kit, so a change there rolls the pod and never re-issues a certificate.
    kits = {name: decode_kit(kit) for name, kit in blobs.items()}
    local, connection = rendered_config(r.t, kits, r.report.ledger.entries)
    r.objects = desired(r.t, manifests, local, connection, operator_namespace(), monitoring_namespace())


def apply_changes(r: ProjectReconcile) -> None:
    """Apply what was built and delete site Deployments of removed sites, when anything can have changed."""
    missing = site_deployments(r.objects) - set(r.existing.deployments)
    if not (r.full or missing or r.report.issued or r.report.removed):
        return
    for obj in r.objects:
        k.apply(r.api, obj)
        if obj["kind"] == "Deployment":
            faults.hit(f"after-{obj['metadata']['labels'].get(naming.LABEL_COMPONENT)}-apply")
    wanted = site_deployments(r.objects)
    for name, dep in r.existing.deployments.items():
        labels = (dep.get("metadata") or {}).get("labels") or {}
        if labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_SITE and name not in wanted:
            k.delete(r.api, "Deployment", r.t.namespace, name)
            log.info("deleted Deployment %s/%s of a removed site", r.t.namespace, name)
    observe(r)  # what was just applied, as the API server now has it


def ask_server(r: ProjectReconcile) -> None:
    if not r.poll:
        return
    if not r.existing.deployment_ready(naming.server(r.t.name, r.t.project.spec.server.name)):
        r.connected = set()  # no ready server: nobody can be connected
        return
    try:
        with admin_session(r.api, r.t, r.report.ca_fingerprint) as sess:
            r.connected = flare.connected_sites(sess)
    except Exception as err:  # the Flare API raises bare Exceptions; any failure is "not reachable now"
        log.info("project %s/%s: admin session failed: %s", r.t.namespace, r.t.name, err)
        r.flare_error = f"the server did not answer the admin client: {type(err).__name__}: {err}"[:300]


STEPS: tuple[Callable[[ProjectReconcile], None], ...] = (parse, issue_kits, observe, build, apply_changes, ask_server)


# --- status ---------------------------------------------------------------------------------------------


def snapshot(r: ProjectReconcile) -> ProjectSnapshot:
    t, report, existing, connected = r.t, r.report, r.existing, r.connected
    sites = []
    for s in t.project.spec.sites:
        phase, ready = existing.pod_phase(naming.site_labels(t.name, s.name))
        sites.append(SiteObservation(
            name=s.name, kit_issued=s.name in report.cert_expiry, pod_phase=phase, pod_ready=ready,
            connected=connected is not None and s.name in connected, cert_expires=report.cert_expiry.get(s.name),
        ))  # fmt: skip
    server_phase, _ = existing.pod_phase(naming.server_labels(t.name))
    return ProjectSnapshot(
        generation=t.generation,
        server_endpoint=t.endpoint,
        sites=tuple(sites),
        kits_missing=tuple(n for n in t.participants if n not in report.cert_expiry),
        ca_fingerprint=report.ca_fingerprint,
        ca_expires=report.ca_expires,
        server_ready=existing.deployment_ready(naming.server(t.name, t.project.spec.server.name)),
        server_pod_phase=server_phase,
        flare_error=r.flare_error,
        flare_polled=connected is not None or r.flare_error is not None,
        cert_expiry=report.cert_expiry,
        renew_before_days=t.project.spec.certificates.renew_before_days,
    )


_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(body: dict[str, Any]) -> threading.Lock:
    key = (str(body["metadata"]["namespace"]), str(body["metadata"]["name"]))
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def reconcile_project(api: Api, body: dict[str, Any], *, full: bool, poll: bool) -> FLProjectStatus:
    """Run the steps in order, then compute the status from what they observed.

    kopf runs a resource's timer concurrently with its change handlers: one lock per project keeps two
    reconciles from issuing kits side by side (the store would refuse the second, but why do the work)."""
    with _lock(body):
        r = ProjectReconcile(api, body, full=full, poll=poll)
        for step in STEPS:
            step(r)
        faults.hit("before-status")
        return project_status(snapshot(r), FLProjectStatus.stored(body))


def failed_status(body: dict[str, Any], problem: str) -> FLProjectStatus:
    meta = body.get("metadata") or {}
    snap = ProjectSnapshot(generation=int(meta.get("generation") or 0), server_endpoint="", sites=(),
                           spec_error=problem)  # fmt: skip
    return project_status(snap, FLProjectStatus.stored(body))


def release(api: Api, body: dict[str, Any]) -> None:
    """The project is being deleted: drop its admin session (its temp kit holds the admin key) and lift
    the CA Secret's finalizer so owner GC can remove it."""
    meta = body["metadata"]
    if SESSIONS.drop((meta["namespace"], meta["name"])):
        log.info("dropped the admin session of FLProject %s/%s", meta["namespace"], meta["name"])
    _reports.pop((meta["namespace"], meta["name"]), None)
    SecretKitStore(api, owner_of(body), meta["name"]).release_ca()
