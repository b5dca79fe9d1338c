"""The policy pack's rules as pure functions of (resource type, props): the pack (infra/policy/)
wraps them for the Pulumi engine, the tests run them on the props the mocks recorded. Props use the
wire (camelCase) names, as the engine passes them. Each rule returns its violations, [] when fine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Props = Mapping[str, Any]
ResourceRule = Callable[[str, Props], list[str]]

EKS_CLUSTER = "eks:index:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
SERVICE = "kubernetes:core/v1:Service"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

GPU_AMI_TYPES = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _is_gpu_group(props: Props) -> bool:
    labels = props.get("labels") or {}
    ami = str(props.get("amiType") or "")
    return labels.get("nvidia.com/gpu.present") == "true" or "NVIDIA" in ami or "GPU" in ami


def gpu_node_groups(resource_type: str, props: Props) -> list[str]:
    """GPU node groups: x86-64 NVIDIA AMI, the GPU taint (keeps other pods off) and the label the
    device plugin's affinity needs."""
    if resource_type != NODE_GROUP or not _is_gpu_group(props):
        return []
    out = []
    if props.get("amiType") not in GPU_AMI_TYPES:
        out.append(f"amiType {props.get('amiType')!r} is not an x86-64 NVIDIA AMI ({', '.join(GPU_AMI_TYPES)})")
    taints = props.get("taints") or []
    if not any(t.get("key") == "nvidia.com/gpu" and t.get("value") == "true" and t.get("effect") == "NO_SCHEDULE"
               for t in taints):
        out.append("GPU node group lacks the taint nvidia.com/gpu=true:NoSchedule")
    if (props.get("labels") or {}).get("nvidia.com/gpu.present") != "true":
        out.append("GPU node group lacks the label nvidia.com/gpu.present=true (device plugin affinity)")
    return out


def make_endpoint_rule(allow_open: bool = False) -> ResourceRule:
    def eks_endpoint_restricted(resource_type: str, props: Props) -> list[str]:
        """Private endpoint on; public only when asked, and then CIDR-restricted."""
        if resource_type != EKS_CLUSTER:
            return []
        out = []
        if not _true(props.get("endpointPrivateAccess")):
            out.append("endpointPrivateAccess must be true (nodes reach the API inside the VPC)")
        public = props.get("endpointPublicAccess")
        if public is None:
            out.append("endpointPublicAccess unset: pulumi-eks then opens the endpoint to the internet")
        elif _true(public):
            cidrs = list(props.get("publicAccessCidrs") or [])
            if not cidrs:
                out.append("public endpoint without publicAccessCidrs is open to 0.0.0.0/0")
            elif not allow_open and any(c in OPEN_CIDRS for c in cidrs):
                out.append(f"publicAccessCidrs {cidrs} opens the endpoint to the internet")
        return out

    return eks_endpoint_restricted


def eks_secrets_encrypted(resource_type: str, props: Props) -> list[str]:
    if resource_type == EKS_CLUSTER and not props.get("encryptionConfigKeyArn"):
        return ["Kubernetes Secrets (the NVFlare kits) must be KMS-encrypted: set encryptionConfigKeyArn"]
    return []


def eks_api_authentication(resource_type: str, props: Props) -> list[str]:
    if resource_type == EKS_CLUSTER and props.get("authenticationMode") != "API":
        return [f"authenticationMode {props.get('authenticationMode')!r}: use API (access entries, no aws-auth)"]
    return []


def eks_network_policy(resource_type: str, props: Props) -> list[str]:
    """Without the VPC CNI's policy agent, EKS accepts NetworkPolicies and enforces none of them."""
    if resource_type != EKS_CLUSTER:
        return []
    cni = props.get("vpcCniOptions") or {}
    if _true(props.get("useDefaultVpcCni", True)) or not _true(cni.get("enableNetworkPolicy")):
        return ["the VPC CNI must enforce NetworkPolicies: useDefaultVpcCni false, vpcCniOptions.enableNetworkPolicy"]
    return []


def ebs_encrypted(resource_type: str, props: Props) -> list[str]:
    if resource_type == LAUNCH_TEMPLATE:
        devices = props.get("blockDeviceMappings") or []
        if not devices:
            return ["launch template without blockDeviceMappings: the AMI's default volume may be unencrypted"]
        return [f"volume {d.get('deviceName')} is not encrypted" for d in devices
                if not _true((d.get("ebs") or {}).get("encrypted"))]
    ebs_class = resource_type == STORAGE_CLASS and props.get("provisioner") == "ebs.csi.aws.com"
    if ebs_class and not _true((props.get("parameters") or {}).get("encrypted")):
        return ['EBS StorageClass must set parameters.encrypted: "true"']
    return []


def nlb_tcp_passthrough(resource_type: str, props: Props) -> list[str]:
    """NVFlare's mTLS must reach the server untouched: TCP listeners, no TLS termination."""
    spec, meta = props.get("spec") or {}, props.get("metadata") or {}
    if resource_type != SERVICE or spec.get("type") != "LoadBalancer":
        return []
    out = []
    notes = meta.get("annotations") or {}
    if "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" in notes:
        out.append("the balancer terminates TLS (aws-load-balancer-ssl-cert): NVFlare's mutual TLS breaks")
    if notes.get("service.beta.kubernetes.io/aws-load-balancer-type") not in (None, "external", "nlb"):
        out.append("only NLBs pass TCP through: aws-load-balancer-type must be external")
    out += [f"port {p.get('port')} is {p.get('protocol')}, not TCP" for p in spec.get("ports") or []
            if p.get("protocol", "TCP") != "TCP"]
    if not spec.get("loadBalancerSourceRanges"):
        out.append("a federation balancer must list loadBalancerSourceRanges (the sites' networks)")
    return out


def charts_pinned(resource_type: str, props: Props) -> list[str]:
    if resource_type != HELM_RELEASE:
        return []
    chart = str(props.get("chart") or "")
    local = chart.startswith(("/", "./", "../"))
    return [] if local or props.get("version") else [f"chart {chart!r} has no pinned version (versions.py)"]


RESOURCE_RULES: dict[str, tuple[str, ResourceRule]] = {
    "gpu-node-groups-x86-64-tainted": ("GPU node groups: x86-64 NVIDIA AMI, GPU taint and label", gpu_node_groups),
    "eks-endpoint-restricted": ("EKS API endpoint private; public only CIDR-restricted", make_endpoint_rule()),
    "eks-secrets-encrypted": ("EKS Secrets encrypted with KMS", eks_secrets_encrypted),
    "eks-api-authentication": ("EKS uses API authentication (access entries)", eks_api_authentication),
    "eks-network-policy": ("the VPC CNI enforces NetworkPolicies", eks_network_policy),
    "ebs-encrypted": ("node volumes and the EBS StorageClass are encrypted", ebs_encrypted),
    "nlb-tcp-passthrough": ("federation balancers pass TCP through (mTLS)", nlb_tcp_passthrough),
    "charts-pinned": ("every third-party chart has a pinned version", charts_pinned),
}


def _tags(props: Props) -> Mapping[str, str]:
    tags = props.get("tags") or props.get("tagsAll") or {}
    return json.loads(tags) if isinstance(tags, str) else tags


def nodes_in_private_subnets(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Stack rule: every node group's subnets are this stack's private subnets (no public IPs,
    tagged for internal balancers only)."""
    private = {p.get("id") for t, p in resources
               if t == SUBNET and not _true(p.get("mapPublicIpOnLaunch"))
               and _tags(p).get("kubernetes.io/role/internal-elb") == "1"}
    out = []
    for t, p in resources:
        if t != NODE_GROUP:
            continue
        subnets = list(p.get("subnetIds") or [])
        if not subnets:
            out.append(f"node group {p.get('nodeGroupName')}: no subnetIds")
        out += [f"node group {p.get('nodeGroupName')}: subnet {s} is not a private subnet of this stack"
                for s in subnets if s not in private]
    return out


STACK_RULES: dict[str, tuple[str, Callable[[Sequence[tuple[str, Props]]], list[str]]]] = {
    "nodes-in-private-subnets": ("node groups run in private subnets only", nodes_in_private_subnets),
}


def evaluate(resources: Sequence[tuple[str, Props]]) -> dict[str, list[str]]:
    """Every rule on every resource: {policy name: violations}, only names with violations."""
    out: dict[str, list[str]] = {}
    for name, (_, rule) in RESOURCE_RULES.items():
        found = [f"{t}: {v}" for t, p in resources for v in rule(t, p)]
        if found:
            out[name] = found
    for name, (_, stack_rule) in STACK_RULES.items():
        if found := stack_rule(resources):
            out[name] = found
    return out
