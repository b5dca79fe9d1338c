"""The Pulumi program as a function: `program(config)` builds the components for one validated
config. `infra/__main__.py` calls it with the stack's config; the Automation API can call it inline
(existing-cluster mode needs no AWS and no Pulumi.yaml)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from flarekube.preflight import Check, Demand, PreflightFailed

from flarekube_infra import pricing
from flarekube_infra.config import (
    PROJECT,
    ConfigError,
    GpuNodeGroupConfig,
    InfraConfig,
    SystemNodeGroupConfig,
    load_config,
    project_of,
)
from flarekube_infra.platform import AwsPlatformArgs, Platform, PlatformArgs

Preflight = Callable[[InfraConfig], list[Check]]


def aws_preflight(config: InfraConfig) -> list[Check]:
    """The same checks as `flarekube preflight`, for every GPU node group at its max size."""
    import boto3
    from flarekube.preflight import run_checks

    assert config.aws is not None
    demands = [Demand(g.instance_type, g.max_size, g.capacity_type == "SPOT") for g in config.aws.gpu_node_groups]
    return run_checks(boto3.Session(region_name=config.aws.region), demands)


def hourly_cost(config: InfraConfig, nat_gateways: int) -> float:
    """Estimated USD/h at the node groups' desired sizes (pricing.py says how rough)."""
    assert config.aws is not None
    counts: dict[str, int] = {}
    groups: list[GpuNodeGroupConfig | SystemNodeGroupConfig] = [config.aws.system_node_group,
                                                                *config.aws.gpu_node_groups]
    for group in groups:
        counts[group.instance_type] = counts.get(group.instance_type, 0) + group.desired_size
    balancers = 1 if config.federation is not None and config.federation.expose != "none" else 0
    return pricing.estimated_hourly_cost(counts, nat_gateways, balancers)


def read_kubeconfig(value: str) -> str:
    """A kubeconfig's content, or a path to one (`~` expanded)."""
    path = Path(os.path.expanduser(value))
    if "\n" not in value and path.is_file():
        return path.read_text()
    if "\n" not in value:
        raise ConfigError([f"kubeconfig: {value} is not a file (give a path or the kubeconfig's content)"])
    return value


def program(config: InfraConfig, preflight: Preflight | None = aws_preflight) -> None:
    """Declare everything for `config`; `preflight=None` skips the AWS checks (tests inject their own)."""
    from flarekube_infra.federation import Federation, FederationArgs

    project = project_of(config.federation) if config.federation else None
    if config.mode == "aws":
        assert config.aws is not None
        if preflight is not None:
            checks = preflight(config)
            if not all(c.ok for c in checks):
                raise pulumi.RunError(str(PreflightFailed(checks)))
        platform, cost = _aws(config)
        pulumi.export("estimatedHourlyCostUsd", cost)
    else:
        assert config.kubeconfig is not None
        kubeconfig = pulumi.Output.secret(read_kubeconfig(config.kubeconfig))
        platform = Platform("platform", PlatformArgs(kubeconfig=kubeconfig, config=config.platform,
                                                     context=config.context))
        pulumi.export("kubeconfig", kubeconfig)
    if config.federation is not None and project is not None:
        federation = Federation("federation", FederationArgs(config.federation, project, platform.provider,
                                                             platform.operator))
        pulumi.export("serverEndpoint", federation.endpoint)
        if federation.balancer_hostname is not None:
            pulumi.export("serverBalancerHostname", federation.balancer_hostname)


def _aws(config: InfraConfig) -> tuple[Platform, float]:
    import pulumi_aws as aws

    from flarekube_infra.cluster import Cluster, ClusterArgs
    from flarekube_infra.network import Network, NetworkArgs, choose_azs

    cfg = config.aws
    assert cfg is not None
    provider = aws.Provider("aws", region=cfg.region, default_tags={"tags": {**cfg.tags, "managed-by": "flarekube"}})
    invoke = pulumi.InvokeOptions(provider=provider)
    offered = {
        t: aws.ec2.get_instance_type_offerings(
            location_type="availability-zone", filters=[{"name": "instance-type", "values": [t]}], opts=invoke
        ).locations
        for t in sorted({g.instance_type for g in cfg.gpu_node_groups})
    }
    try:
        azs = choose_azs(offered, cfg.availability_zones, cfg.az_count)
    except ValueError as error:
        raise ConfigError([str(error)]) from None
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    network = Network("network", NetworkArgs(cfg.cluster_name, cfg.vpc_cidr, azs, cfg.nat_gateways, cfg.tags), opts)
    cluster = Cluster("cluster", ClusterArgs(cfg, network.vpc_id, network.private_subnet_ids,
                                             network.public_subnet_ids), opts)
    platform = Platform("platform", PlatformArgs(
        kubeconfig=cluster.kubeconfig, config=config.platform,
        gpu_ami_types=[g.ami_type for g in cfg.gpu_node_groups],
        aws=AwsPlatformArgs(cfg.cluster_name, cfg.region, network.vpc_id, cluster.load_balancer_controller_role_arn),
        depends_on=[*cluster.node_groups, cluster.ebs_csi],
    ), opts)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("clusterName", cfg.cluster_name)
    pulumi.export("gpuNodeGroupNames", cluster.gpu_node_group_names)
    pulumi.export("availabilityZones", azs)
    return platform, hourly_cost(config, network.nat_gateway_count)


def stack_config() -> dict[str, Any]:
    """This stack's `flarekube-infra:*` config as plain values; an unknown key is an error, not ignored."""
    from pulumi.runtime import config as runtime_config

    # The engine hands config to the program through CONFIG; PULUMI_CONFIG is the fallback it documents.
    return config_from_env({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()})


def config_from_env(raw: Mapping[str, str]) -> dict[str, Any]:
    """`{"flarekube-infra:aws": "<json>"}` -> `{"aws": {...}}`; other namespaces are the providers'."""
    out: dict[str, Any] = {}
    for key, text in raw.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue  # aws:*, kubernetes:*, ... belong to the providers
        try:
            out[name] = json.loads(text)
        except json.JSONDecodeError:
            out[name] = text  # a plain string value
    return out


def main() -> None:
    try:
        config = load_config(stack_config())
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    program(config)
