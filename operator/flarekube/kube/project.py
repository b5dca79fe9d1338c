"""Reconcile one FLProject: validate -> ensure kits -> build -> apply -> observe.

Called by the kopf handlers (handlers/project.py); knows nothing about kopf. Spec problems raise
`SpecProblem` (never fixed by retrying), everything else propagates for a retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from flarekube import naming
from flarekube.api import FLProject, SpecError, parse_document
from flarekube.builders import netpol, server, site
from flarekube.builders.common import Obj, Owner
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.kube import apply as k
from flarekube.kube import faults
from flarekube.kube.kitstore import SecretKitStore
from flarekube.kube.observe import Children
from flarekube.provisioning import KitReport, KitStoreRefusal, ensure_kits
from flarekube.provisioning.codec import KIT_MANIFEST
from flarekube.status.project import ProjectSnapshot, SiteObservation

log = logging.getLogger(__name__)


class SpecProblem(ValueError):
    """The spec cannot work as written; the message names the field."""


@dataclass(frozen=True)
class Target:
    """An FLProject as the operator sees it: the parsed spec plus where its objects go."""

    project: FLProject
    owner: Owner
    host: str
    generation: int

    @property
    def key(self) -> str:
        return self.project.metadata.name

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.project.spec.server.fl_port}"

    @property
    def admin(self) -> str:
        return self.project.spec.admins[0].email


def target(body: dict[str, Any]) -> Target:
    try:
        parsed = parse_document(dict(body), "FLProject")
    except SpecError as err:
        raise SpecProblem("; ".join(err.problems)) from None
    assert isinstance(parsed, FLProject)
    problems = cluster_problems(parsed)
    if problems:
        raise SpecProblem("; ".join(problems))
    meta = body["metadata"]
    owner = Owner("FLProject", meta["name"], meta["uid"], meta["namespace"])
    host = parsed.spec.server.host or naming.server_host(meta["name"], meta["namespace"], parsed.spec.server.name)
    return Target(parsed, owner, host, int(meta.get("generation") or 0))


def cluster_problems(project: FLProject) -> list[str]:
    """What is valid for `flarekube run` but cannot work on a cluster."""
    problems = []
    if project.spec.job_runtime == "pod":
        problems.append(
            'spec.jobRuntime: "pod" (NVFlare\'s Kubernetes job launcher) is not supported by this operator '
            'version; use "process" (jobs run inside each site pod)'
        )
    for i, s in enumerate(project.spec.sites):
        if s.data is not None and s.data.local_path is not None:
            problems.append(f"spec.sites[{i}].data.localPath: works only with flarekube run; use hostPath or pvc")
    return problems


def store(api: client.ApiClient, t: Target) -> SecretKitStore:
    return SecretKitStore(api, t.owner, t.key, fault=faults.hit)


# (namespace, project) -> (what the kit Secrets and the spec looked like, the report for it)
_reports: dict[tuple[str, str], tuple[tuple[object, ...], KitReport]] = {}


def _signature(t: Target, kits: SecretKitStore) -> tuple[object, ...]:
    versions = sorted((n, str(kits.kit_secret(n)["metadata"].get("resourceVersion"))) for n in kits.kit_names())
    return (t.owner.uid, t.generation, t.host, tuple(versions))


def ensure(api: client.ApiClient, t: Target, kits: SecretKitStore, *, memo: bool = False) -> KitReport:
    """Issue missing kits only. KitStoreRefusal (e.g. server name changed) is a SpecProblem: it needs a human.

    memo (the status poll): when neither the spec nor any kit Secret changed since the last full check in
    this process, reuse its report instead of decoding every certificate again (the poll's main CPU cost).
    Change handlers and restarts always run the full check."""
    key = (t.namespace, t.key)
    if memo and key in _reports and _reports[key][0] == _signature(t, kits):
        return _reports[key][1]
    try:
        report = ensure_kits(provisioning_inputs(t.project, t.host), kits)
    except KitStoreRefusal as err:
        raise SpecProblem(f"kits not issued: {err}") from None
    faults.hit("after-kits")
    _reports[key] = (_signature(t, kits), report)
    return report


def desired(t: Target, kits: SecretKitStore, operator_namespace: str | None) -> list[Obj]:
    def manifest(name: str) -> bytes:
        return kits.get_kit(name)[KIT_MANIFEST]

    p, o = t.project, t.owner
    objects = [
        server.server_pvc(p, o),
        server.server_service(p, o),
        netpol.server_policy(p, o, operator_namespace),
        netpol.site_policy(p, o),
        server.server_deployment(p, o, manifest(t.host), t.host),
    ]
    objects += [site.site_deployment(p, s, o, manifest(s.name)) for s in p.spec.sites]
    return objects


def apply_all(api: client.ApiClient, t: Target, objects: list[Obj], existing: Children) -> int:
    """Apply what was built; delete site Deployments of removed sites. Returns how many were applied."""
    for obj in objects:
        k.apply(api, obj)
        if obj["kind"] == "Deployment":
            faults.hit(f"after-{obj['metadata']['labels'].get(naming.LABEL_COMPONENT)}-apply")
    wanted = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    for name, dep in existing.deployments.items():
        labels = (dep.get("metadata") or {}).get("labels") or {}
        if labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_SITE and name not in wanted:
            k.delete(api, "Deployment", t.namespace, name)
            log.info("deleted Deployment %s/%s of a removed site", t.namespace, name)
    return len(objects)


def missing(objects: list[Obj], existing: Children) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"]
            not in existing.deployments]  # fmt: skip


def snapshot(
    t: Target, report: KitReport, existing: Children, connected: set[str] | None, flare_error: str | None
) -> ProjectSnapshot:
    sites = []
    for s in t.project.spec.sites:
        phase, ready = existing.pod_phase(naming.site_labels(t.key, s.name))
        sites.append(SiteObservation(
            name=s.name, kit_issued=s.name in report.cert_expiry, pod_phase=phase, pod_ready=ready,
            connected=connected is not None and s.name in connected, cert_expires=report.cert_expiry.get(s.name),
        ))  # fmt: skip
    server_phase, _ = existing.pod_phase(naming.server_labels(t.key))
    return ProjectSnapshot(
        generation=t.generation,
        server_endpoint=t.endpoint,
        sites=tuple(sites),
        kits_missing=tuple(n for n in [t.host, *(s.name for s in t.project.spec.sites)] if n not in report.cert_expiry),
        ca_fingerprint=report.ca_fingerprint,
        ca_expires=report.ca_expires,
        server_ready=existing.deployment_ready(naming.server(t.key, t.project.spec.server.name)),
        server_pod_phase=server_phase,
        flare_error=flare_error,
        flare_polled=connected is not None or flare_error is not None,
    )


def failed_snapshot(body: dict[str, Any], problem: str) -> ProjectSnapshot:
    meta = body.get("metadata") or {}
    return ProjectSnapshot(generation=int(meta.get("generation") or 0), server_endpoint="", sites=(),
                           spec_error=problem)  # fmt: skip


def release(api: client.ApiClient, body: dict[str, Any]) -> None:
    """The project is being deleted: lift the CA Secret's finalizer so owner GC can remove it."""
    meta = body["metadata"]
    owner = Owner("FLProject", meta["name"], meta["uid"], meta["namespace"])
    SecretKitStore(api, owner, meta["name"]).release_ca()
