"""An FLProject as the operator sees it (`Target`) and every object it wants to exist (`desired`). Pure.

Naming: an FLProject's `metadata.name` is its `name` (Target.name; `project` where a function takes the
string); `spec.projectName` is NVFlare's project name, baked into every certificate (`project_name`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from flarekube import naming
from flarekube.api import FLProject
from flarekube.api.documents import parse_resource
from flarekube.api.validation import cluster_project_problems
from flarekube.builders import localconfig, netpol, server, site
from flarekube.builders.common import Obj, Owner


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


def target(body: Mapping[str, Any]) -> Target:
    """Parse and check an FLProject as stored; SpecProblem names every field that cannot work."""
    parsed = parse_resource(body, FLProject, cluster_project_problems)
    meta = body["metadata"]
    host = parsed.spec.server.host or naming.server_host(meta["name"], meta["namespace"], parsed.spec.server.name)
    return Target(parsed, owner_of(body), host, int(meta.get("generation") or 0))


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
            operator_namespace: str | None) -> list[Obj]:  # fmt: skip
    """Every object the project wants, given each participant's kit manifest and rendered local/ files
    (both by participant name). The local/ ConfigMaps come before the Deployments that mount them."""
    p, o = t.project, t.owner
    objects = [
        server.server_pvc(p, o),
        server.server_service(p, o),
        netpol.server_policy(p, o, operator_namespace),
        netpol.site_policy(p, o),
        localconfig.local_configmap(t.name, t.host, "server", local[t.host], o),
        *(localconfig.local_configmap(t.name, s.name, "client", local[s.name], o) for s in p.spec.sites),
        server.server_deployment(p, o, manifests[t.host], t.host, local[t.host]),
    ]
    objects += [site.site_deployment(p, s, o, manifests[s.name], local[s.name]) for s in p.spec.sites]
    return objects


def site_deployments(objects: list[Obj]) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
