"""Network: a VPC over >= 2 AZs that offer the GPU type; private subnets for nodes, public ones for
load balancers, NAT for the nodes' egress (image pulls, the EKS API)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SubnetPlan:
    az: str
    private_cidr: str
    public_cidr: str


def choose_azs(offered: dict[str, Sequence[str]], wanted: Sequence[str] | None, count: int) -> list[str]:
    """AZs where EVERY GPU type is offered: a node group spans all subnets, and an AZ without the type
    leaves its capacity requests failing there. `offered` maps instance type -> AZ names."""
    common = sorted(set.intersection(*(set(azs) for azs in offered.values()))) if offered else []
    if wanted:
        missing = {t: sorted(set(wanted) - set(azs)) for t, azs in offered.items() if set(wanted) - set(azs)}
        if missing:
            raise ValueError(f"aws.availabilityZones: not offered there: {missing} (offered in all: {common})")
        return list(wanted)
    if len(common) < 2:
        raise ValueError(f"aws.gpuNodeGroups: the GPU types {sorted(offered)} share {common or 'no AZ'}; need 2")
    return common[:count]


def subnet_plan(vpc_cidr: str, azs: Sequence[str]) -> list[SubnetPlan]:
    """Carve the VPC into eighths: one per AZ for nodes (the VPC CNI gives every pod a VPC address, so
    private subnets are large) and the last eighth split into small public subnets (balancers only)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    public = list(eighths[-1].subnets(prefixlen_diff=3))
    if len(azs) > len(eighths) - 1:
        raise ValueError(f"{vpc_cidr} cannot hold {len(azs)} AZs")
    return [SubnetPlan(az, str(eighths[i]), str(public[i])) for i, az in enumerate(azs)]


def subnet_tags(cluster_name: str, public: bool, base: dict[str, str]) -> dict[str, str]:
    """The role tags are how the AWS Load Balancer Controller picks subnets: `elb` for internet-facing
    balancers, `internal-elb` for internal ones (and EKS uses neither for nodes)."""
    role = "kubernetes.io/role/elb" if public else "kubernetes.io/role/internal-elb"
    return {
        **base,
        "Name": f"{cluster_name}-{'public' if public else 'private'}",
        role: "1",
        f"kubernetes.io/cluster/{cluster_name}": "shared",
    }


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    vpc_cidr: str
    availability_zones: Sequence[str]
    nat_gateways: Literal["single", "perAz"] = "single"
    tags: dict[str, str] = field(default_factory=dict)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flarekube:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "flarekube.io/cluster": args.cluster_name}
        # EKS requires DNS hostnames for the private endpoint and for nodes to register by name.
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags={**tags, "Name": args.cluster_name}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags=tags, opts=child,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        )
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nats: list[aws.ec2.NatGateway] = []
        for i, plan in enumerate(subnet_plan(args.vpc_cidr, args.availability_zones)):
            # No public IPs on launch even in public subnets: only NAT gateways and balancers live there.
            public = aws.ec2.Subnet(f"{name}-public-{plan.az}", vpc_id=vpc.id, cidr_block=plan.public_cidr,
                                    availability_zone=plan.az, map_public_ip_on_launch=False,
                                    tags=subnet_tags(args.cluster_name, True, tags), opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{plan.az}", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            if args.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{plan.az}", domain="vpc", tags=tags, opts=child)
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{plan.az}", allocation_id=eip.id, subnet_id=public.id,
                                               tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            private = aws.ec2.Subnet(f"{name}-private-{plan.az}", vpc_id=vpc.id, cidr_block=plan.private_cidr,
                                     availability_zone=plan.az, map_public_ip_on_launch=False,
                                     tags=subnet_tags(args.cluster_name, False, tags), opts=child)
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{plan.az}", vpc_id=vpc.id, tags=tags, opts=child,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[-1].id)],
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{plan.az}", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)
        self.vpc_id = vpc.id
        self.nat_gateway_count = len(nats)
        self.register_outputs({"vpcId": vpc.id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})
