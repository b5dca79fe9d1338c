"""Federation: the FLProject from stack config and, for remote hospitals, the server behind a
TCP pass-through load balancer.

NVFlare's connections are mutual TLS end to end: a balancer that terminates TLS replaces the server's
certificate and drops the client's, and every site fails its handshake. So the NLB listens on TCP and
the server's name — its TLS identity in every kit — is fixed in config, never taken from the balancer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from flarekube import naming
from flarekube.api import FLProject

from flarekube_infra.config import FederationConfig

NLB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    # IP targets plus client IP preservation: the server pod sees each site's own address, which is
    # what its NetworkPolicy (spec.server.allowedCidrs) admits.
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=true",
}


def flproject_manifest(project: FLProject, namespace: str) -> dict[str, Any]:
    """The CR as the API server gets it: the operator's model, dumped with its wire names."""
    doc = project.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["metadata"] = {**doc["metadata"], "namespace": namespace}
    return doc


def server_service_manifest(project: FLProject, namespace: str, fed: FederationConfig) -> dict[str, Any]:
    """A LoadBalancer Service in front of the operator's server pod (same selector as its ClusterIP
    Service), both NVFlare ports, TCP only."""
    server = project.spec.server
    annotations: dict[str, str] = {}
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": naming.server_labels(project.metadata.name),
        "ports": [{"name": "fl", "port": server.fl_port, "targetPort": server.fl_port, "protocol": "TCP"},
                  {"name": "admin", "port": server.admin_port, "targetPort": server.admin_port,
                   "protocol": "TCP"}],
        "loadBalancerSourceRanges": list(server.allowed_cidrs),
    }
    if fed.expose == "nlb":
        annotations = {**NLB_ANNOTATIONS, "service.beta.kubernetes.io/aws-load-balancer-scheme": fed.scheme}
        spec["loadBalancerClass"] = "service.k8s.aws/nlb"  # the controller, not the legacy in-tree ELB
    name = f"{naming.server(project.metadata.name, server.name)}-public"[:63].rstrip("-")
    metadata = {"name": name, "namespace": namespace, "annotations": annotations,
                "labels": naming.server_labels(project.metadata.name)}
    return {"metadata": metadata, "spec": spec}


def _balancer_hostname(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    """The NLB's DNS name once the controller has created it ("" until then)."""
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return (ingress[0].hostname or "") if ingress else ""


@dataclass(frozen=True)
class FederationArgs:
    config: FederationConfig
    project: FLProject
    provider: k8s.Provider
    operator: pulumi.Resource  # the flarekube chart release


class Federation(pulumi.ComponentResource):
    endpoint: str
    balancer_hostname: pulumi.Output[str] | None

    def __init__(self, name: str, args: FederationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flarekube:infra:Federation", name, None, opts)
        fed, project = args.config, args.project
        base = pulumi.ResourceOptions(parent=self, provider=args.provider)
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": fed.namespace, "labels": {
            # Every flarekube pod already meets `restricted`; enforcing it catches anything that doesn't.
            "pod-security.kubernetes.io/enforce": "restricted"}}, opts=base)
        manifest = flproject_manifest(project, fed.namespace)
        # depends_on the operator: on destroy the FLProject goes first, while the operator is still
        # running to clear its finalizer (otherwise the delete hangs forever on the CA Secret).
        self.flproject = k8s.apiextensions.CustomResource(
            f"{name}-flproject", api_version=manifest["apiVersion"], kind=manifest["kind"],
            metadata=manifest["metadata"], spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[args.operator, ns])),
        )
        self.endpoint = f"{project.spec.server.host}:{project.spec.server.fl_port}"
        self.balancer_hostname = None
        if fed.expose != "none":
            svc = server_service_manifest(project, fed.namespace, fed)
            service = k8s.core.v1.Service(
                f"{name}-server-lb", metadata=svc["metadata"], spec=svc["spec"],
                opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.flproject])),
            )
            self.balancer_hostname = service.status.apply(_balancer_hostname)
            if fed.route53_zone_id:
                # The name was fixed first; only now does it learn where the balancer is.
                aws.route53.Record(
                    f"{name}-server-dns", zone_id=fed.route53_zone_id, name=str(project.spec.server.host),
                    type="CNAME", ttl=300, records=[self.balancer_hostname], opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"serverEndpoint": self.endpoint, "balancerHostname": self.balancer_hostname})
