"""The stack configuration, typed and validated before any resource is declared.

Every problem is reported as `flarekube-infra:<key path>: <what is wrong>`, the key a user types into
`pulumi config set --path`. The FLProject inside `federation.project` is validated by the operator's
own model (flarekube.api), so infra and the operator cannot disagree on what a valid project is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

from flarekube.api import FLProject
from flarekube.api.common import SpecModel
from flarekube.api.errors import problems_of
from flarekube.api.types import CIDR, DNSLabel, DNSName
from pydantic import Field, ValidationError, field_validator, model_validator

from flarekube_infra.pricing import GPU_TYPES, SYSTEM_TYPES

PROJECT = "flarekube-infra"  # Pulumi.yaml's name: the namespace of every config key

GpuAmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]


class ConfigError(ValueError):
    """Invalid stack config: one `flarekube-infra:<path>: <message>` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [p if p.startswith(f"{PROJECT}:") else f"{PROJECT}:{p}" for p in problems]
        super().__init__("invalid stack config\n" + "\n".join(f"  {p}" for p in self.problems))


class _Sizes(SpecModel):
    min_size: int = Field(default=0, ge=0, le=100)
    desired_size: int = Field(default=1, ge=0, le=100)
    max_size: int = Field(default=2, ge=1, le=100)
    disk_gib: int = Field(default=100, ge=20, le=4096, description="Root (AL2023) or data (Bottlerocket) volume.")

    @model_validator(mode="after")
    def _ordered(self) -> _Sizes:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need minSize <= desiredSize <= maxSize, got {self.min_size} / {self.desired_size} / {self.max_size}"
            )
        return self


class SystemNodeGroupConfig(_Sizes):
    instance_type: str = "m6i.large"
    min_size: int = Field(default=2, ge=1, le=100)  # controllers and Prometheus need somewhere to run
    desired_size: int = Field(default=2, ge=1, le=100)
    max_size: int = Field(default=3, ge=1, le=100)
    disk_gib: int = Field(default=50, ge=20, le=4096)

    @field_validator("instance_type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SYSTEM_TYPES:
            raise ValueError(f'"{value}" is not a supported system instance type ({", ".join(SYSTEM_TYPES)})')
        return value


class GpuNodeGroupConfig(_Sizes):
    name: DNSLabel
    instance_type: str
    ami_type: GpuAmiType = "AL2023_x86_64_NVIDIA"
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"

    @field_validator("instance_type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in GPU_TYPES:
            raise ValueError(
                f'"{value}" is not a supported x86-64 NVIDIA GPU instance type ({", ".join(GPU_TYPES)})'
            )
        return value


class AwsConfig(SpecModel):
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    cluster_name: DNSLabel = "flarekube"
    kubernetes_version: str = Field(default="1.33", pattern=r"^1\.\d{2}$")
    vpc_cidr: CIDR = "10.40.0.0/16"
    availability_zones: list[str] | None = Field(default=None, min_length=2, max_length=3)
    az_count: int = Field(default=2, ge=2, le=3)
    # One NAT gateway is the cheap default: nodes lose egress (image pulls) while its AZ is down.
    nat_gateways: Literal["single", "perAz"] = "single"
    public_endpoint: bool = False
    public_access_cidrs: list[CIDR] = Field(default_factory=list, max_length=40)
    system_node_group: SystemNodeGroupConfig = Field(default_factory=SystemNodeGroupConfig)
    gpu_node_groups: list[GpuNodeGroupConfig] = Field(min_length=1, max_length=10)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        net = ipaddress.ip_network(value, strict=True)
        if net.version != 4 or not 16 <= net.prefixlen <= 20:
            raise ValueError(f'"{value}" must be an IPv4 network from /16 to /20 (room for 2-3 AZs of pods)')
        return value

    @field_validator("gpu_node_groups")
    @classmethod
    def _unique(cls, groups: list[GpuNodeGroupConfig]) -> list[GpuNodeGroupConfig]:
        names = [g.name for g in groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes or "system" in names:
            raise ValueError(f"node group names must be unique and not \"system\": {dupes or ['system']}")
        return groups

    @model_validator(mode="after")
    def _endpoint(self) -> AwsConfig:
        # A public API endpoint open to the internet is the classic EKS foot-gun: ask for CIDRs.
        if self.public_endpoint and not self.public_access_cidrs:
            raise ValueError("publicEndpoint: true needs publicAccessCidrs (your office/VPN networks)")
        if self.public_access_cidrs and not self.public_endpoint:
            raise ValueError("publicAccessCidrs is set but publicEndpoint is false: the endpoint stays private")
        return self


class ChartConfig(SpecModel):
    namespace: DNSLabel = "flarekube-system"
    image_repository: str | None = Field(default=None, pattern=r"^[^\s:]+$")
    image_tag: str | None = Field(default=None, pattern=r"^[\w.-]+$")
    watch_namespaces: list[DNSLabel] = Field(default_factory=list)


class PlatformConfig(SpecModel):
    # Bottlerocket bundles the device plugin; AL2023 NVIDIA AMIs bundle the driver and toolkit.
    gpu_stack: Literal["device-plugin", "gpu-operator", "none"] = "device-plugin"
    dcgm_exporter: bool = True
    load_balancer_controller: bool = True
    monitoring: bool = True
    storage_class: bool = True
    flarekube: ChartConfig = Field(default_factory=ChartConfig)


class FederationConfig(SpecModel):
    namespace: DNSLabel = "hospitals"
    # The server's name is its TLS identity in every kit: fixed here, before any balancer exists.
    server_host: DNSName
    project: dict[str, Any] = Field(description="An FLProject document (metadata + spec); apiVersion optional.")
    # Default: "nlb" on AWS, "none" (in-cluster sites only) on an existing cluster.
    expose: Literal["nlb", "loadBalancer", "none"] = "nlb"
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    route53_zone_id: str | None = Field(default=None, pattern=r"^Z[A-Z0-9]{4,32}$")


class InfraConfig(SpecModel):
    mode: Literal["aws", "existing"] = "aws"
    aws: AwsConfig | None = None
    kubeconfig: str | None = Field(default=None, min_length=1, description="A path or the kubeconfig itself.")
    context: str | None = None
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    federation: FederationConfig | None = None

    @model_validator(mode="after")
    def _mode(self) -> InfraConfig:
        if self.mode == "aws" and self.aws is None:
            raise ValueError('mode "aws" needs the aws key (region, gpuNodeGroups, ...)')
        if self.mode == "existing":
            if self.kubeconfig is None:
                raise ValueError('mode "existing" needs kubeconfig (a path or its content)')
            if self.aws is not None:
                raise ValueError('mode "existing" creates nothing on AWS: remove the aws key')
        elif self.kubeconfig is not None or self.context is not None:
            raise ValueError('kubeconfig/context are for mode "existing"; mode "aws" builds its own')
        if self.mode == "existing" and self.federation and "expose" not in self.federation.model_fields_set:
            return self.model_copy(update={"federation": self.federation.model_copy(update={"expose": "none"})})
        return self

    @property
    def gpu_groups(self) -> list[GpuNodeGroupConfig]:
        return self.aws.gpu_node_groups if self.aws else []


def project_of(federation: FederationConfig) -> FLProject:
    """The FLProject to apply, validated by the operator's model; serverHost becomes spec.server.host."""
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", **federation.project}
    spec = dict(doc.get("spec") or {})
    server = dict(spec.get("server") or {})
    if server.get("host") not in (None, federation.server_host):
        raise ConfigError(
            [f'federation.project.spec.server.host: "{server["host"]}" differs from federation.serverHost '
             f'"{federation.server_host}"; set only serverHost']
        )
    server["host"] = federation.server_host
    doc["spec"] = {**spec, "server": server}
    try:
        project = FLProject.model_validate(doc)
    except ValidationError as error:
        raise ConfigError([f"federation.project.{p}" for p in problems_of(error)]) from None
    if federation.expose != "none" and not project.spec.server.allowed_cidrs:
        # The server's NetworkPolicy admits outside sites by ipBlock only: without CIDRs the balancer
        # would forward connections that the policy then drops.
        raise ConfigError(
            ["federation.project.spec.server.allowedCidrs: list the remote sites' networks; the server's "
             "NetworkPolicy drops every other source behind the load balancer"]
        )
    return project


def load_config(raw: Mapping[str, Any]) -> InfraConfig:
    """Validate the stack config (keys without the `flarekube-infra:` prefix); ConfigError if bad."""
    try:
        config = InfraConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(problems_of(error)) from None
    if config.federation is not None:
        if config.federation.expose == "nlb" and (config.mode != "aws" or not config.platform.load_balancer_controller):
            raise ConfigError(['federation.expose: "nlb" needs mode "aws" with platform.loadBalancerController'])
        project_of(config.federation)  # raises ConfigError naming federation.project.<path>
    return config
