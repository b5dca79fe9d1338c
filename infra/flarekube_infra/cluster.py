"""Cluster: EKS (pulumi-eks) with API authentication, a private endpoint, KMS-encrypted secrets, the
VPC CNI enforcing NetworkPolicies, a system node group and x86-64 NVIDIA GPU node groups.

pulumi-eks's Cluster is a multi-language component: under test mocks it is one opaque resource, and a
pulumi-eks ManagedNodeGroup that takes it as input fails there (pulumi#6561). So node groups are plain
`aws.eks.NodeGroup`s tied to the cluster by its fixed name and `depends_on`, and every argument is
computed by a pure function below that the tests call directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from flarekube_infra import iam
from flarekube_infra.config import AwsConfig, GpuNodeGroupConfig, SystemNodeGroupConfig

# The device plugin's default node affinity selects nodes by this label; the taint keeps every pod
# that does not ask for a GPU (and so carries no toleration) off the expensive nodes.
GPU_LABELS = {"nvidia.com/gpu.present": "true"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
# AL2023 GPU nodes need the Helm device plugin; Bottlerocket NVIDIA nodes run their own. The plugin's
# DaemonSet selects this label, so a mixed cluster never runs two plugins on one node.
DEVICE_PLUGIN_LABEL = "flarekube.io/device-plugin"


def cluster_args(cfg: AwsConfig) -> dict[str, Any]:
    """eks.Cluster arguments that do not depend on other resources."""
    return {
        "name": cfg.cluster_name,
        "version": cfg.kubernetes_version,
        # IAM access entries only: no aws-auth ConfigMap that a stray kubectl edit can break.
        "authentication_mode": eks.AuthenticationMode.API,
        "endpoint_private_access": True,
        # pulumi-eks defaults to a public endpoint open to 0.0.0.0/0: always say what we mean.
        "endpoint_public_access": cfg.public_endpoint,
        "public_access_cidrs": list(cfg.public_access_cidrs) if cfg.public_endpoint else None,
        "skip_default_node_group": True,
        # Managed node groups without their own security groups get the EKS cluster security group.
        "skip_default_security_groups": True,
        "node_associate_public_ip_address": False,
        "create_oidc_provider": False,  # created below, so its ARN is a plain resource output
        # Without network policy enforcement the operator's NetworkPolicies are silently ignored on EKS.
        "use_default_vpc_cni": False,
        "vpc_cni_options": eks.VpcCniOptionsArgs(enable_network_policy=True),
        "enabled_cluster_log_types": ["api", "audit", "authenticator"],
        "tags": dict(cfg.tags),
    }


def block_devices(ami_type: str, disk_gib: int) -> list[dict[str, Any]]:
    """Encrypted gp3 volumes. Bottlerocket keeps the OS on xvda and images/pods on xvdb (sized)."""
    def ebs(size: int) -> dict[str, Any]:
        return {"volume_size": size, "volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}

    if ami_type.startswith("BOTTLEROCKET"):
        return [{"device_name": "/dev/xvda", "ebs": ebs(4)}, {"device_name": "/dev/xvdb", "ebs": ebs(disk_gib)}]
    return [{"device_name": "/dev/xvda", "ebs": ebs(disk_gib)}]


def launch_template_args(ami_type: str, disk_gib: int, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "block_device_mappings": block_devices(ami_type, disk_gib),
        # IMDSv2 only, one hop: pods cannot borrow the node role; controllers use IRSA instead.
        "metadata_options": {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
        "tag_specifications": [{"resource_type": "instance", "tags": tags}, {"resource_type": "volume", "tags": tags}],
        "tags": tags,
    }


def node_group_args(group: GpuNodeGroupConfig | SystemNodeGroupConfig, cluster_name: str) -> dict[str, Any]:
    """aws.eks.NodeGroup arguments except the role, subnets and launch template (resource outputs)."""
    name, ami, capacity = "system", "AL2023_x86_64_STANDARD", "ON_DEMAND"
    labels = {"flarekube.io/node-group": name}
    gpu = isinstance(group, GpuNodeGroupConfig)
    if isinstance(group, GpuNodeGroupConfig):
        name, ami, capacity = group.name, group.ami_type, group.capacity_type
        labels = {"flarekube.io/node-group": name, **GPU_LABELS}
        if ami.startswith("AL2023"):
            labels[DEVICE_PLUGIN_LABEL] = "helm"
    return {
        "cluster_name": cluster_name,
        "node_group_name": f"{cluster_name}-{name}",
        "ami_type": ami,
        "instance_types": [group.instance_type],
        "capacity_type": capacity,
        "scaling_config": {"min_size": group.min_size, "desired_size": group.desired_size,
                           "max_size": group.max_size},
        "update_config": {"max_unavailable": 1},
        "labels": labels,
        "taints": [dict(GPU_TAINT)] if gpu else [],
        "tags": {"flarekube.io/node-group": name},
    }


@dataclass(frozen=True)
class ClusterArgs:
    config: AwsConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    public_subnet_ids: Sequence[pulumi.Input[str]]


class Cluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    cluster_name: str
    gpu_node_group_names: list[pulumi.Output[str]]
    load_balancer_controller_role_arn: pulumi.Output[str]
    node_groups: list[aws.eks.NodeGroup]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flarekube:infra:Cluster", name, None, opts)
        cfg, child = args.config, pulumi.ResourceOptions(parent=self)
        # Secrets envelope-encrypted with a customer key: readable etcd backups reveal no kits.
        key = aws.kms.Key(f"{name}-secrets", description=f"EKS secrets of {cfg.cluster_name}",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=cfg.tags, opts=child)
        cluster = eks.Cluster(
            name, **cluster_args(cfg), vpc_id=args.vpc_id, private_subnet_ids=list(args.private_subnet_ids),
            public_subnet_ids=list(args.public_subnet_ids), encryption_config_key_arn=key.arn, opts=child,
        )
        self.cluster_name = cfg.cluster_name
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        after = pulumi.ResourceOptions(parent=self, depends_on=[cluster])

        # OIDC for IRSA, from the cluster's issuer (looked up by name: the component's nested outputs
        # are opaque to mocks and to typed code alike).
        issuer = aws.eks.get_cluster_output(
            name=cfg.cluster_name, opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[cluster])
        ).identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"],
                                             tags=cfg.tags, opts=after)

        def irsa(role: str, namespace: str, account: str) -> aws.iam.Role:
            policy = pulumi.Output.all(oidc.arn, issuer).apply(
                lambda a: json.dumps(iam.irsa_trust_policy(a[0], a[1], namespace, account))
            )
            return aws.iam.Role(f"{name}-{role}", assume_role_policy=policy, tags=cfg.tags, opts=child)

        node_role = aws.iam.Role(f"{name}-node", tags=cfg.tags, opts=child,
                                 assume_role_policy=json.dumps(iam.assume_role_policy("ec2.amazonaws.com")))
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{arn.rsplit('/', 1)[1]}", role=node_role.name,
                                         policy_arn=arn, opts=child)
            for arn in iam.NODE_POLICIES
        ]
        self.node_groups, self.gpu_node_group_names = [], []
        groups: list[GpuNodeGroupConfig | SystemNodeGroupConfig] = [cfg.system_node_group, *cfg.gpu_node_groups]
        for group in groups:
            ng = node_group_args(group, cfg.cluster_name)
            short = ng["labels"]["flarekube.io/node-group"]
            ami = ng["ami_type"]
            template = aws.ec2.LaunchTemplate(
                f"{name}-{short}", **launch_template_args(ami, group.disk_gib, {**cfg.tags, **ng["tags"]}), opts=child
            )
            node_group = aws.eks.NodeGroup(
                f"{name}-{short}", **ng, node_role_arn=node_role.arn, subnet_ids=list(args.private_subnet_ids),
                launch_template={"id": template.id, "version": template.latest_version.apply(str)},
                # The cluster autoscaler (or a person) moves desiredSize; a later `up` must not undo it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *attachments],
                                            ignore_changes=["scalingConfig.desiredSize"]),
            )
            self.node_groups.append(node_group)
            if isinstance(group, GpuNodeGroupConfig):
                self.gpu_node_group_names.append(node_group.node_group_name)

        # EBS CSI for the server's PVC (the in-tree EBS provisioner is gone); it needs nodes to run on.
        ebs_role = irsa("ebs-csi", "kube-system", "ebs-csi-controller-sa")
        aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=ebs_role.name, policy_arn=iam.EBS_CSI_POLICY, opts=child)
        self.ebs_csi = aws.eks.Addon(
            f"{name}-ebs-csi", cluster_name=cfg.cluster_name, addon_name="aws-ebs-csi-driver",
            service_account_role_arn=ebs_role.arn, resolve_conflicts_on_create="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_groups[0]]),
        )
        lbc_role = irsa("aws-load-balancer-controller", "kube-system", "aws-load-balancer-controller")
        lbc_policy = aws.iam.Policy(f"{name}-aws-load-balancer-controller", tags=cfg.tags, opts=child,
                                    policy=json.dumps(iam.load_balancer_controller_policy(cfg.cluster_name)))
        aws.iam.RolePolicyAttachment(f"{name}-aws-load-balancer-controller", role=lbc_role.name,
                                     policy_arn=lbc_policy.arn, opts=child)
        self.load_balancer_controller_role_arn = lbc_role.arn
        self.register_outputs({"clusterName": cfg.cluster_name, "kubeconfig": self.kubeconfig,
                               "gpuNodeGroupNames": self.gpu_node_group_names})


