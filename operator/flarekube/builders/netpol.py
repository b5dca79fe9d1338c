"""NetworkPolicies (issue 12; enforced on the test cluster by kube-router, see docs/security.md).

- Every namespace flarekube manages gets a default deny of ingress and egress for all its pods.
  Threat: any pod a tenant runs there (or a job's code in a site) reaching anything by default.
- Sites accept nothing and may dial only their own server's FL port, and DNS on the kube-dns pods only.
  Threat: a malicious job tunnelling data out through another DNS server, or dialling other sites,
  another project's server, another namespace or node-local listeners.
- The server accepts its own sites on the FL port, the operator on the admin port, and `allowedCidrs`
  on the FL port only; it sends nothing but replies (and DNS to kube-dns). Threat: job code on the
  server exfiltrating the global model or the sites' updates.

Service traffic is DNAT-ed to pod IPs before policies are checked, so pod selectors are enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from flarekube import naming
from flarekube.api.project import FLProject
from flarekube.builders.common import METRICS_PORT, Obj, Owner, metadata

# The chart's operator pod labels (charts/flarekube/templates/_helpers.tpl, selectorLabels).
OPERATOR_LABELS = {"app.kubernetes.io/name": "flarekube", "app.kubernetes.io/component": "operator"}
NAMESPACE_NAME = "kubernetes.io/metadata.name"
DEFAULT_DENY = "flarekube-default-deny"
KUBE_DNS: Obj = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}  # fmt: skip
# Ports are matched after Service DNAT, i.e. on the DNS pod's own port: CoreDNS's named ports (the
# upstream manifest's `dns`/`dns-tcp`, whatever number they have) and 53 for clusters that name them
# otherwise. The pod selector is what keeps other DNS servers out.
DNS_PORTS = [{"protocol": "UDP", "port": "dns"}, {"protocol": "TCP", "port": "dns-tcp"},
             {"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]  # fmt: skip


def default_deny(namespace: str) -> Obj:
    """One per namespace, shared by its projects, so it has no owner: deleting one project must not
    open the namespace for the others (and an orphan deny-all is harmless)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": DEFAULT_DENY,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": naming.MANAGED_BY},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _scraper(monitoring_namespace: str | None) -> list[Obj]:
    """The monitoring namespace (chart `monitoring.namespace`) may scrape the federation metrics port
    and nothing else. Threat: a scraper being a way in to the FL or admin port."""
    if not monitoring_namespace:
        return []
    peer = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: monitoring_namespace}}}
    return [{"from": [peer], "ports": [{"protocol": "TCP", "port": METRICS_PORT["name"]}]}]


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
    monitoring_namespace: str | None = None,
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
    if cidrs:  # remote sites: the FL port only, never the admin port
        ingress.append({"from": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": _ports(fl)})
    ingress += _scraper(monitoring_namespace)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(naming.netpol(key, "server"), owner, naming.server_labels(key)),
        "spec": {
            "podSelector": {"matchLabels": naming.server_labels(key)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            # Replies need no rule (connection tracking); DNS is for its own names only.
            "egress": [{"to": [KUBE_DNS], "ports": DNS_PORTS}],
        },
    }


def site_policy(project: FLProject, owner: Owner, monitoring_namespace: str | None = None) -> Obj:
    key = project.metadata.name
    dns = {"to": [KUBE_DNS], "ports": DNS_PORTS}
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
            "policyTypes": ["Ingress", "Egress"],  # nothing may connect to a site but the metrics scraper
            "ingress": _scraper(monitoring_namespace),
            "egress": [server, dns],
        },
    }
