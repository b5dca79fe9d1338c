"""Instance types flarekube supports and what they cost: one table, an ESTIMATE.

Prices are AWS list prices for Linux On-Demand in us-east-1 as of 2025-05 (USD per hour). Other
regions cost 5-30 % more, Spot is cheaper and varies, and AWS cut P4/P5 prices in mid-2025: treat the
output as an order of magnitude to compare stack shapes, not a bill. vCPUs and GPUs per instance are
fixed by AWS and are what the quota math and the cost need.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-05, us-east-1, Linux On-Demand"


@dataclass(frozen=True)
class InstanceType:
    vcpus: int
    gpus: int
    gpu_model: str
    usd_per_hour: float


# x86-64 NVIDIA types only: the GPU node groups run AL2023/Bottlerocket x86_64 NVIDIA AMIs and the
# runtime image is built for amd64.
GPU_TYPES: dict[str, InstanceType] = {
    "g4dn.xlarge": InstanceType(4, 1, "T4", 0.526),
    "g4dn.2xlarge": InstanceType(8, 1, "T4", 0.752),
    "g4dn.12xlarge": InstanceType(48, 4, "T4", 3.912),
    "g5.xlarge": InstanceType(4, 1, "A10G", 1.006),
    "g5.2xlarge": InstanceType(8, 1, "A10G", 1.212),
    "g5.4xlarge": InstanceType(16, 1, "A10G", 1.624),
    "g5.12xlarge": InstanceType(48, 4, "A10G", 5.672),
    "g5.48xlarge": InstanceType(192, 8, "A10G", 16.288),
    "g6.xlarge": InstanceType(4, 1, "L4", 0.8048),
    "g6.2xlarge": InstanceType(8, 1, "L4", 0.9776),
    "g6.4xlarge": InstanceType(16, 1, "L4", 1.3232),
    "g6.12xlarge": InstanceType(48, 4, "L4", 4.6016),
    "g6.48xlarge": InstanceType(192, 8, "L4", 13.3504),
    "g6e.xlarge": InstanceType(4, 1, "L40S", 1.861),
    "g6e.2xlarge": InstanceType(8, 1, "L40S", 2.24208),
    "g6e.12xlarge": InstanceType(48, 4, "L40S", 10.49264),
    "p3.2xlarge": InstanceType(8, 1, "V100", 3.06),
    "p4d.24xlarge": InstanceType(96, 8, "A100", 32.7726),
}

# The system node group (operator, controllers, Prometheus): general purpose x86-64.
SYSTEM_TYPES: dict[str, InstanceType] = {
    "t3.large": InstanceType(2, 0, "", 0.0832),
    "m5.large": InstanceType(2, 0, "", 0.096),
    "m6i.large": InstanceType(2, 0, "", 0.096),
    "m6i.xlarge": InstanceType(4, 0, "", 0.192),
    "m7i.large": InstanceType(2, 0, "", 0.1008),
    "m7i.xlarge": InstanceType(4, 0, "", 0.2016),
}

EKS_CONTROL_PLANE_PER_HOUR = 0.10
NAT_GATEWAY_PER_HOUR = 0.045  # plus data processing, not estimated
NLB_PER_HOUR = 0.0225  # plus LCUs, not estimated


def price(instance_type: str) -> InstanceType:
    found = GPU_TYPES.get(instance_type) or SYSTEM_TYPES.get(instance_type)
    if found is None:
        raise KeyError(f"{instance_type} is not in the price table (flarekube_infra/pricing.py)")
    return found


def estimated_hourly_cost(
    node_counts: dict[str, int], nat_gateways: int, load_balancers: int, eks: bool = True
) -> float:
    """USD per hour for `node_counts` (instance type -> nodes running), rounded to the cent.

    Spot capacity is priced at On-Demand: an upper bound, which is what a budget wants.
    """
    total = EKS_CONTROL_PLANE_PER_HOUR if eks else 0.0
    total += sum(price(t).usd_per_hour * n for t, n in node_counts.items())
    total += NAT_GATEWAY_PER_HOUR * nat_gateways + NLB_PER_HOUR * load_balancers
    return round(total, 2)
