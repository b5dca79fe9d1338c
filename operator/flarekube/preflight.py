"""`flarekube preflight`: will AWS let this GPU federation start? Checked with boto3 before anything
is created, because the usual failures (no quota, type not offered, wrong account) otherwise surface
20 minutes into `pulumi up` as an unschedulable node group.

The Pulumi program (infra/) runs the same `run_checks` first and stops with the same message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import boto3

# EC2 vCPU quotas are per instance family group, per region, and count every running instance.
QUOTA_CODES: dict[tuple[str, bool], tuple[str, str]] = {
    ("G", False): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("P", False): ("L-417A185B", "Running On-Demand P instances"),
    ("G", True): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", True): ("L-7212CCBC", "All P Spot Instance Requests"),
}
MIN_AZS = 2  # EKS needs subnets in two AZs, and so does a node group that survives an AZ outage


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Demand:
    """One GPU node group at its maximum size: what the quota has to allow."""

    instance_type: str
    max_nodes: int
    spot: bool = False


class PreflightFailed(RuntimeError):
    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)
        super().__init__(failure_message(self.checks))


def quota_family(instance_type: str) -> str | None:
    """G or P for the NVIDIA families (g4dn, g5, g6, g6e, gr6, p3, p4d, p5, ...)."""
    family = instance_type.split(".", 1)[0]
    return family[0].upper() if family[:1] in ("g", "p") else None


def _error_text(error: Exception) -> str:
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code', '')}: {response['Error'].get('Message', '')}".strip(": ")
    return str(error) or type(error).__name__


def check_identity(sts: Any) -> Check:
    try:
        who = sts.get_caller_identity()
    except Exception as error:  # NoCredentialsError, ExpiredToken, ... all mean the same to a user
        return Check("AWS identity", False, _error_text(error),
                     "configure credentials: `aws sso login`, AWS_PROFILE or AWS_ACCESS_KEY_ID")
    return Check("AWS identity", True, f"account {who['Account']} as {who['Arn']}")


def describe_type(ec2: Any, instance_type: str) -> tuple[Check, dict[str, Any] | None]:
    name = f"{instance_type} is an x86-64 NVIDIA type"
    try:
        found = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except Exception as error:
        return Check(name, False, _error_text(error), "pick a type from `aws ec2 describe-instance-types`"), None
    if not found:
        return Check(name, False, "unknown instance type", "check the spelling, e.g. g5.xlarge"), None
    info = found[0]
    archs = info.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    gpus = info.get("GpuInfo", {}).get("Gpus", [])
    makers = {g.get("Manufacturer") for g in gpus}
    if "x86_64" not in archs:
        return Check(name, False, f"architectures {archs}", "the GPU AMIs and images are x86-64: use g5/g6/p4d"), None
    if not gpus or makers != {"NVIDIA"}:
        return Check(name, False, f"no NVIDIA GPU ({sorted(m for m in makers if m) or 'none'})",
                     "pick an NVIDIA GPU type: g4dn, g5, g6, g6e, p3, p4d, p5"), None
    count = sum(int(g.get("Count", 0)) for g in gpus)
    detail = f"{count} x {gpus[0].get('Name', 'GPU')}, {info['VCpuInfo']['DefaultVCpus']} vCPUs"
    return Check(name, True, detail), info


def check_azs(ec2: Any, instance_type: str, region: str) -> Check:
    name = f"{instance_type} offered in >= {MIN_AZS} AZs"
    try:
        pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
        )
        zones = sorted({o["Location"] for page in pages for o in page["InstanceTypeOfferings"]})
    except Exception as error:
        return Check(name, False, _error_text(error), "allow ec2:DescribeInstanceTypeOfferings")
    if len(zones) < MIN_AZS:
        return Check(name, False, f"{region} offers it in {zones or 'no AZ'}",
                     f"choose a region offering {instance_type} in {MIN_AZS}+ AZs, or another type")
    return Check(name, True, ", ".join(zones))


def check_quota(quotas: Any, family: str, spot: bool, needed_vcpus: int) -> Check:
    code, title = QUOTA_CODES[(family, spot)]
    name = f"vCPU quota {code} ({title})"
    try:
        value = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except Exception as error:
        return Check(name, False, _error_text(error), "allow servicequotas:GetServiceQuota")
    have = int(value)
    if have < needed_vcpus:
        return Check(name, False, f"quota {have} vCPUs < {needed_vcpus} needed at the node groups' max size",
                     "aws service-quotas request-service-quota-increase --service-code ec2 "
                     f"--quota-code {code} --desired-value {needed_vcpus}")
    # The quota also covers instances already running in the region: the check is necessary, not sufficient.
    return Check(name, True, f"{have} vCPUs >= {needed_vcpus} needed (running instances count too)")


def check_bucket(s3: Any, bucket: str) -> Check:
    name = f"S3 bucket {bucket}"
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as error:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            return Check(name, False, "does not exist", f"create it: aws s3 mb s3://{bucket}")
        if code in ("403", "AccessDenied"):
            return Check(name, False, "access denied", f"grant s3:ListBucket/GetObject/PutObject on {bucket}")
        return Check(name, False, _error_text(error), "check the bucket name and region")
    return Check(name, True, "reachable")


def run_checks(session: boto3.Session, demands: Sequence[Demand], bucket: str | None = None) -> list[Check]:
    """Every check, in the order a user fixes them; later checks are skipped when the identity fails."""
    region = session.region_name or ""
    identity = check_identity(session.client("sts"))
    checks = [identity]
    if not identity.ok:
        return checks
    ec2 = session.client("ec2")
    vcpus: dict[tuple[str, bool], int] = {}
    for demand in demands:
        described, info = describe_type(ec2, demand.instance_type)
        checks.append(described)
        if info is None:
            continue
        checks.append(check_azs(ec2, demand.instance_type, region))
        family = quota_family(demand.instance_type)
        if family is not None:
            key = (family, demand.spot)
            vcpus[key] = vcpus.get(key, 0) + demand.max_nodes * int(info["VCpuInfo"]["DefaultVCpus"])
    if vcpus:
        quotas = session.client("service-quotas")
        checks += [check_quota(quotas, family, spot, need) for (family, spot), need in sorted(vcpus.items())]
    if bucket:
        checks.append(check_bucket(session.client("s3"), bucket))
    return checks


def nodes_for_gpus(ec2: Any, instance_type: str, gpus: int) -> int:
    """How many instances `gpus` GPUs take (at least one); 1 if the type cannot be described."""
    try:
        info = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"][0]
        per_node = sum(int(g.get("Count", 0)) for g in info.get("GpuInfo", {}).get("Gpus", []))
    except Exception:
        return 1  # describe_type reports the real problem
    return max(1, math.ceil(gpus / per_node)) if per_node else 1


def failure_message(checks: Sequence[Check]) -> str:
    failed = [c for c in checks if not c.ok]
    lines = [f"preflight failed ({len(failed)} of {len(checks)} checks):"]
    lines += [f"  FAIL {c.name}: {c.detail}" + (f" -> {c.fix}" if c.fix else "") for c in failed]
    return "\n".join(lines)


def render(checks: Sequence[Check], console: Console) -> None:
    table = Table(title="flarekube preflight", show_lines=False)
    for column in ("check", "result", "detail", "what to do next"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(c.name, "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]", c.detail, c.fix)
    console.print(table)


def preflight_command(
    region: Annotated[str, typer.Option(help="AWS region, e.g. us-east-1.")],
    gpu_instance_type: Annotated[str, typer.Option(help="GPU node type, e.g. g5.xlarge.")],
    gpus: Annotated[int, typer.Option(min=1, help="GPUs the GPU node groups reach at their max size.")],
    bucket: Annotated[str | None, typer.Option(help="S3 bucket the federation reads or writes.")] = None,
    spot: Annotated[bool, typer.Option(help="Check the Spot vCPU quota instead of On-Demand.")] = False,
    profile: Annotated[str | None, typer.Option(help="AWS profile (default: the usual boto3 chain).")] = None,
) -> None:
    """Check AWS before `pulumi up`: identity, GPU type in 2+ AZs, vCPU quota, S3 access."""
    try:
        import boto3
    except ImportError:
        Console(stderr=True).print("[bold red]error:[/] boto3 is missing: pip install 'flarekube[infra]'")
        raise typer.Exit(2) from None
    session = boto3.Session(region_name=region, profile_name=profile)
    nodes = nodes_for_gpus(session.client("ec2"), gpu_instance_type, gpus)
    checks = run_checks(session, [Demand(gpu_instance_type, nodes, spot)], bucket)
    console = Console()
    render(checks, console)
    if not all(c.ok for c in checks):
        console.print(failure_message(checks), highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]all {len(checks)} checks passed[/] — `cd infra && pulumi up`")


# `flarekube preflight` on its own, and for tests (typer.testing.CliRunner).
app = typer.Typer(add_completion=False)
app.command(name="preflight")(preflight_command)
