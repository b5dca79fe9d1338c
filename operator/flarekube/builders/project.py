"""An FLProject as the operator sees it (`Target`) and every object it wants to exist (`desired`). Pure.

Naming: an FLProject's `metadata.name` is its `name` (Target.name; `project` where a function takes the
string); `spec.projectName` is NVFlare's project name, baked into every certificate (`project_name`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flarekube import naming
from flarekube.api import FLProject
from flarekube.api.documents import parse_resource
from flarekube.api.validation import cluster_project_problems
from flarekube.builders import localconfig, netpol, server, site
from flarekube.builders.common import METRICS_PORT, Obj, Owner
from flarekube.builders.connection import ConnectionFiles, render_connection, spec_ports
from flarekube.builders.sitelocal import LocalFiles, Monitoring, render_local
from flarekube.provisioning.ledger import LedgerEntry
from flarekube.provisioning.model import Kit


@dataclass(frozen=True)
class Target:
    """An FLProject as the operator sees it: the parsed spec plus where its objects go."""

    project: FLProject
    owner: Owner
    host: str
    generation: int

    @property
    def name(self) -> str:
        return self.project.metadata.name

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.project.spec.server.fl_port}"

    @property
    def admin(self) -> str:
        """Who submits and follows every job: the operator's own admin (human admins have no kit here)."""
        return self.project.operator_admin

    @property
    def participants(self) -> list[str]:
        """Everyone with a kit the cluster runs: the server (by its host name) and each site."""
        return [self.host, *(s.name for s in self.project.spec.sites)]


def owner_of(body: Mapping[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner("FLProject", meta["name"], meta["uid"], meta["namespace"])


def target(body: Mapping[str, Any], allowed_host_paths: Sequence[str] = ()) -> Target:
    """Parse and check an FLProject as stored; SpecProblem names every field that cannot work.
    `allowed_host_paths`: the node folders this operator's installer allows as hostPath data."""
    parsed = parse_resource(body, FLProject, lambda p: cluster_project_problems(p, allowed_host_paths))
    meta = body["metadata"]
    host = parsed.spec.server.host or naming.server_host(meta["name"], meta["namespace"], parsed.spec.server.name)
    return Target(parsed, owner_of(body), host, int(meta.get("generation") or 0))


def rendered_config(
    t: Target, kits: Mapping[str, Kit], ledger: Iterable[LedgerEntry] = ()
) -> tuple[dict[str, LocalFiles], dict[str, ConnectionFiles]]:
    """Each participant's configuration, rendered apart from its kit (by participant name): its local/
    (NVFlare's defaults from the kit + its site policy; the server's also the serials the ledger refuses)
    and its connection file (the spec's ports)."""
    def monitoring(sites: tuple[str, ...] = ()) -> Monitoring:  # federation metrics, on every pod's fl-metrics
        return Monitoring(METRICS_PORT["containerPort"], t.name, t.namespace, sites=sites)

    names = tuple(s.name for s in t.project.spec.sites)
    local = {t.host: render_local(kits[t.host].files, "server", monitoring=monitoring(names),
                                  server_components=t.project.spec.server.allow_components, ledger=ledger)}  # fmt: skip
    for s in t.project.spec.sites:
        local[s.name] = render_local(kits[s.name].files, "client", s.policy, monitoring=monitoring())
    ports = spec_ports(t.project)
    connection = {name: render_connection(kits[name].files, kits[name].kind, ports) for name in t.participants}
    return local, connection


def without_sites(t: Target, revoked: Collection[str]) -> Target:
    """The target minus the sites revoked for good (`flarekube site revoke`, the ledger): the operator
    issues them no kit and runs no Deployment for them, even while the spec still lists them; their
    old serials stay in the server's refused list. The other sites are untouched."""
    gone = set(revoked) & {s.name for s in t.project.spec.sites}
    if not gone:
        return t
    spec = t.project.spec.model_copy(update={"sites": [s for s in t.project.spec.sites if s.name not in gone]})
    return dataclasses.replace(t, project=t.project.model_copy(update={"spec": spec}))


def desired(t: Target, manifests: Mapping[str, bytes], local: Mapping[str, Mapping[str, bytes]],
            connection: Mapping[str, Mapping[str, bytes]], operator_namespace: str | None,
            monitoring_namespace: str | None = None) -> list[Obj]:  # fmt: skip
    """Every object the project wants, given each participant's kit manifest, rendered local/ files and
    rendered connection file (all by participant name). The ConfigMaps come before the Deployments that
    mount them."""
    p, o = t.project, t.owner
    kinds = [(t.host, "server"), *((s.name, "client") for s in p.spec.sites)]
    objects = [
        server.server_pvc(p, o),
        server.server_service(p, o),
        netpol.default_deny(o.namespace),
        netpol.server_policy(p, o, operator_namespace, monitoring_namespace=monitoring_namespace),
        netpol.site_policy(p, o, monitoring_namespace),
        *(localconfig.local_configmap(t.name, name, kind, local[name], o) for name, kind in kinds),
        *(localconfig.connection_configmap(t.name, name, kind, connection[name], o) for name, kind in kinds),
        server.server_deployment(p, o, manifests[t.host], t.host, local[t.host], connection[t.host]),
    ]
    objects += [site.site_deployment(p, s, o, manifests[s.name], local[s.name], connection[s.name])
                for s in p.spec.sites]  # fmt: skip
    return objects


def site_deployments(objects: list[Obj]) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
