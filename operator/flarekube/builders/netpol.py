"""NetworkPolicies: the server accepts only its FL port from its project's sites (and the admin port
from the operator and listed CIDRs); sites accept nothing and may only dial the server and DNS.

Service traffic is DNAT-ed to pod IPs before policies are checked, so pod selectors are enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from flarekube import naming
from flarekube.api.project import FLProject
from flarekube.builders.common import Obj, Owner, metadata

# The chart's operator pod labels (charts/flarekube/templates/_helpers.tpl, selectorLabels).
OPERATOR_LABELS = {"app.kubernetes.io/name": "flarekube", "app.kubernetes.io/component": "operator"}
NAMESPACE_NAME = "kubernetes.io/metadata.name"


def _site_pods(project: str) -> Obj:
    return {"matchLabels": {naming.LABEL_PROJECT: naming.label_safe(project),
                            naming.LABEL_COMPONENT: naming.COMPONENT_SITE}}  # fmt: skip


def _ports(*ports: int) -> list[Obj]:
    return [{"protocol": "TCP", "port": p} for p in sorted(set(ports))]


def server_policy(
    project: FLProject,
    owner: Owner,
    operator_namespace: str | None,
    allowed_cidrs: Sequence[str] = (),
) -> Obj:
    key = project.metadata.name
    fl, admin = project.spec.server.fl_port, project.spec.server.admin_port
    operator_peer: Obj = {"podSelector": {"matchLabels": dict(OPERATOR_LABELS)}}
    # Without a known operator namespace any namespace may host it; the pod label still has to match.
    operator_peer["namespaceSelector"] = (
        {"matchLabels": {NAMESPACE_NAME: operator_namespace}} if operator_namespace else {}
    )
    ingress: list[Obj] = [
        {"from": [{"podSelector": _site_pods(key)}], "ports": _ports(fl)},
        {"from": [operator_peer], "ports": _ports(admin)},
    ]
    cidrs = list(allowed_cidrs) or list(project.spec.server.allowed_cidrs)
    if cidrs:
        ingress.append({"from": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": _ports(fl, admin)})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(naming.netpol(key, "server"), owner, naming.server_labels(key)),
        "spec": {
            "podSelector": {"matchLabels": naming.server_labels(key)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def site_policy(project: FLProject, owner: Owner) -> Obj:
    key = project.metadata.name
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: "kube-system"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    server = {
        "to": [{"podSelector": {"matchLabels": naming.server_labels(key)}}],
        "ports": _ports(project.spec.server.fl_port),
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(naming.netpol(key, "sites"), owner, naming.project_labels(key)),
        "spec": {
            "podSelector": _site_pods(key),
            "policyTypes": ["Ingress", "Egress"],  # no ingress rule: nothing may connect to a site
            "ingress": [],
            "egress": [server, dns],
        },
    }
