"""`flarekube preflight` against moto (EC2, STS, S3 in memory). moto has no EC2 service quotas, so the
quota call goes through a botocore Stubber that also checks the request (the quota code asked for)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from flarekube import preflight
from flarekube.preflight import Demand, run_checks
from moto import mock_aws
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Fake credentials and no instance metadata: nothing here may reach a real endpoint.
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


RealSession = boto3.Session  # kept: the CLI tests replace boto3.Session


class Session:
    """A boto3 Session whose clients can be swapped for stubbed ones."""

    def __init__(self, region: str, **clients: Any) -> None:
        self.region_name = region
        self._real = RealSession(region_name=region)
        self._clients = clients

    def client(self, name: str) -> Any:
        return self._clients.get(name) or self._real.client(name)


def quotas(region: str, code: str, value: float | None = None, error: str | None = None) -> Any:
    client = RealSession(region_name=region).client("service-quotas")
    stub = Stubber(client)
    expected = {"ServiceCode": "ec2", "QuotaCode": code}
    if error:
        stub.add_client_error("get_service_quota", service_error_code=error, service_message="denied",
                              expected_params=expected)
    else:
        stub.add_response("get_service_quota", {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "Value": value}},
                          expected)
    stub.activate()
    return client


def failed(checks: list[preflight.Check]) -> list[preflight.Check]:
    return [c for c in checks if not c.ok]


def test_all_pass() -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="hospital-models")
    session = Session("us-east-1", **{"service-quotas": quotas("us-east-1", "L-DB2E81BA", 64.0)})
    checks = run_checks(session, [Demand("g5.xlarge", 4)], "hospital-models")  # type: ignore[arg-type]
    assert failed(checks) == []
    assert [c.name for c in checks] == ["AWS identity", "g5.xlarge is an x86-64 NVIDIA type",
                                        "g5.xlarge offered in >= 2 AZs", "vCPU quota L-DB2E81BA (Running On-Demand "
                                        "G and VT instances)", "S3 bucket hospital-models"]
    assert "16 needed" in checks[3].detail  # 4 nodes x 4 vCPUs
    assert "123456789012" in checks[0].detail


def test_fail_identity() -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    stub = Stubber(sts)
    stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token in the request is expired")
    stub.activate()
    checks = run_checks(Session("us-east-1", sts=sts), [Demand("g5.xlarge", 1)])  # type: ignore[arg-type]
    assert len(checks) == 1 and not checks[0].ok  # nothing else is worth asking with bad credentials
    assert "ExpiredToken" in checks[0].detail and "aws sso login" in checks[0].fix


def test_fail_unknown_type() -> None:
    (bad,) = failed(run_checks(Session("us-east-1"), [Demand("g5.huge", 1)]))  # type: ignore[arg-type]
    assert bad.name == "g5.huge is an x86-64 NVIDIA type" and "InvalidInstanceType" in bad.detail


def test_fail_arm64_gpu() -> None:
    (bad,) = failed(run_checks(Session("us-east-1"), [Demand("g5g.xlarge", 1)]))  # type: ignore[arg-type]
    assert "architectures ['arm64']" in bad.detail and "x86-64" in bad.fix


def test_fail_no_gpu() -> None:
    (bad,) = failed(run_checks(Session("us-east-1"), [Demand("m6i.large", 1)]))  # type: ignore[arg-type]
    assert bad.detail == "no NVIDIA GPU (none)"


def test_fail_offered_in_one_az() -> None:
    session = Session("eu-north-1", **{"service-quotas": quotas("eu-north-1", "L-417A185B", 1000.0)})
    (bad,) = failed(run_checks(session, [Demand("p4d.24xlarge", 1)]))  # type: ignore[arg-type]
    assert bad.name == "p4d.24xlarge offered in >= 2 AZs"
    assert bad.detail == "eu-north-1 offers it in ['eu-north-1c']" and "another type" in bad.fix


def test_fail_quota_too_small_on_demand_p() -> None:
    session = Session("us-east-1", **{"service-quotas": quotas("us-east-1", "L-417A185B", 96.0)})
    (bad,) = failed(run_checks(session, [Demand("p4d.24xlarge", 2)]))  # type: ignore[arg-type]
    assert bad.detail == "quota 96 vCPUs < 192 needed at the node groups' max size"
    assert "--quota-code L-417A185B --desired-value 192" in bad.fix


def test_fail_quota_spot_g_sums_node_groups() -> None:
    session = Session("us-east-1", **{"service-quotas": quotas("us-east-1", "L-3819A6DF", 8.0)})
    checks = run_checks(session, [Demand("g5.xlarge", 2, spot=True), Demand("g6.xlarge", 1, spot=True)])  # type: ignore[arg-type]
    (bad,) = failed(checks)
    assert bad.name.startswith("vCPU quota L-3819A6DF") and "8 vCPUs < 12 needed" in bad.detail


def test_fail_quota_unreadable() -> None:
    denied = quotas("us-east-1", "L-DB2E81BA", error="AccessDeniedException")
    session = Session("us-east-1", **{"service-quotas": denied})
    (bad,) = failed(run_checks(session, [Demand("g5.xlarge", 1)]))  # type: ignore[arg-type]
    assert "AccessDeniedException" in bad.detail and "servicequotas:GetServiceQuota" in bad.fix


def test_fail_bucket_missing() -> None:
    session = Session("us-east-1", **{"service-quotas": quotas("us-east-1", "L-DB2E81BA", 64.0)})
    (bad,) = failed(run_checks(session, [Demand("g5.xlarge", 1)], "no-such-bucket"))  # type: ignore[arg-type]
    assert (bad.name, bad.detail, bad.fix) == ("S3 bucket no-such-bucket", "does not exist", "create it: aws s3 mb s3://no-such-bucket")


def test_fail_bucket_denied() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(s3)
    stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403, expected_params={"Bucket": "theirs"})
    stub.activate()
    session = Session("us-east-1", s3=s3, **{"service-quotas": quotas("us-east-1", "L-DB2E81BA", 64.0)})
    (bad,) = failed(run_checks(session, [Demand("g5.xlarge", 1)], "theirs"))  # type: ignore[arg-type]
    assert bad.detail == "access denied" and "s3:ListBucket" in bad.fix


def cli(monkeypatch: pytest.MonkeyPatch, value: float, *args: str) -> Any:
    def session(region_name: str, profile_name: str | None = None) -> Session:
        return Session(region_name, **{"service-quotas": quotas(region_name, "L-DB2E81BA", value)})

    monkeypatch.setattr(boto3, "Session", session)
    return CliRunner().invoke(preflight.app, list(args), env={"COLUMNS": "200"})


def test_cli_fail_exits_non_zero_with_table_and_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(monkeypatch, 4.0, "--region", "us-east-1", "--gpu-instance-type", "g5.12xlarge", "--gpus", "8")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result
    assert "FAIL" in result.output and "PASS" in result.output and "what to do next" in result.output
    # 8 GPUs on 4-GPU nodes: 2 nodes x 48 vCPUs.
    expected = "FAIL vCPU quota L-DB2E81BA (Running On-Demand G and VT instances): quota 4 vCPUs < 96 needed"
    assert expected in result.output


def test_cli_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(monkeypatch, 96.0, "--region", "us-east-1", "--gpu-instance-type", "g5.12xlarge", "--gpus", "8")
    assert result.exit_code == 0, result.output
    assert "all 4 checks passed" in result.output and "FAIL" not in result.output


def test_program_preflight_is_the_same_check() -> None:
    from flarekube_infra.config import load_config
    from flarekube_infra.program import aws_preflight

    from . import configs

    checks = aws_preflight(load_config(configs.eks()))  # moto: identity, type and AZs pass; quota unreadable
    assert [c.ok for c in checks][:3] == [True, True, True]
    assert checks[3].name.startswith("vCPU quota L-DB2E81BA") and not checks[3].ok
