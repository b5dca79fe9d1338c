"""The policy pack's rules on the mocked stack: clean as built, and each rule catches its violation."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from flarekube_infra import policy_rules as rules
from flarekube_infra.config import load_config
from flarekube_infra.program import program

from . import configs
from .harness import Mocks, run

POLICY_MAIN = Path(__file__).resolve().parents[2] / "infra" / "policy" / "__main__.py"


def stack(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    config = load_config(raw)
    mocks = run(lambda: program(config, preflight=None), Mocks())
    return [(r.typ, r.props) for r in mocks.resources]


@pytest.fixture(scope="module")
def built() -> list[tuple[str, dict[str, Any]]]:
    return stack(configs.eks())


def first(resources: list[tuple[str, dict[str, Any]]], typ: str, **match: Any) -> dict[str, Any]:
    return copy.deepcopy(next(p for t, p in resources if t == typ and all(p.get(k) == v for k, v in match.items())))


def test_built_stack_passes_every_rule(built: list[tuple[str, dict[str, Any]]]) -> None:
    assert rules.evaluate(built) == {}
    kinds = {t for t, _ in built}
    # The rules had something to look at: a vacuous pass would prove nothing.
    assert {rules.EKS_CLUSTER, rules.NODE_GROUP, rules.LAUNCH_TEMPLATE, rules.SUBNET, rules.SERVICE,
            rules.STORAGE_CLASS, rules.HELM_RELEASE} <= kinds


def test_open_endpoint_only_when_asked() -> None:
    resources = stack(configs.eks(aws__publicAccessCidrs=["0.0.0.0/0"]))
    found = rules.evaluate(resources)
    assert list(found) == ["eks-endpoint-restricted"]
    assert "opens the endpoint to the internet" in found["eks-endpoint-restricted"][0]
    cluster = first(resources, rules.EKS_CLUSTER)
    assert rules.make_endpoint_rule(allow_open=True)(rules.EKS_CLUSTER, cluster) == []
    del cluster["endpointPublicAccess"]  # pulumi-eks's default: public to the world
    assert "endpointPublicAccess unset" in rules.make_endpoint_rule()(rules.EKS_CLUSTER, cluster)[0]


def test_each_rule_catches_its_violation(built: list[tuple[str, dict[str, Any]]]) -> None:
    cluster = first(built, rules.EKS_CLUSTER)
    gpu = first(built, rules.NODE_GROUP, nodeGroupName="flarekube-gpu-a10g")
    template = first(built, rules.LAUNCH_TEMPLATE)
    svc = first(built, rules.SERVICE)
    sc = first(built, rules.STORAGE_CLASS)

    no_key = {k: v for k, v in cluster.items() if k != "encryptionConfigKeyArn"}
    assert rules.eks_secrets_encrypted(rules.EKS_CLUSTER, no_key)
    assert rules.eks_api_authentication(rules.EKS_CLUSTER, {**cluster, "authenticationMode": "CONFIG_MAP"})
    assert rules.eks_network_policy(rules.EKS_CLUSTER, {**cluster, "vpcCniOptions": {}})
    assert rules.eks_network_policy(rules.EKS_CLUSTER, {**cluster, "useDefaultVpcCni": True})

    arm = {**gpu, "amiType": "AL2023_ARM_64_NVIDIA"}
    assert "not an x86-64 NVIDIA AMI" in rules.gpu_node_groups(rules.NODE_GROUP, arm)[0]
    assert "lacks the taint" in rules.gpu_node_groups(rules.NODE_GROUP, {**gpu, "taints": []})[0]

    template["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"
    assert rules.ebs_encrypted(rules.LAUNCH_TEMPLATE, template) == ["volume /dev/xvda is not encrypted"]
    assert rules.ebs_encrypted(rules.STORAGE_CLASS, {**sc, "parameters": {"type": "gp3"}})

    svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] = "arn:acm"
    svc["spec"]["ports"][0]["protocol"] = "UDP"
    found = rules.nlb_tcp_passthrough(rules.SERVICE, svc)
    assert any("terminates TLS" in v for v in found) and any("is UDP, not TCP" in v for v in found)

    assert rules.charts_pinned(rules.HELM_RELEASE, {"chart": "gpu-operator"})
    assert rules.charts_pinned(rules.HELM_RELEASE, {"chart": "/work/charts/flarekube"}) == []


def test_node_group_in_a_public_subnet_is_caught(built: list[tuple[str, dict[str, Any]]]) -> None:
    private = first(built, rules.SUBNET, mapPublicIpOnLaunch=False)
    public_ids = [p["id"] for t, p in built if t == rules.SUBNET and p["tags"].get("kubernetes.io/role/elb")]
    moved = [(t, {**p, "subnetIds": public_ids} if t == rules.NODE_GROUP else p) for t, p in built]
    found = rules.evaluate(moved)["nodes-in-private-subnets"]
    assert len(found) == 4 and "is not a private subnet of this stack" in found[0]
    assert private  # the private subnets still exist; only the groups moved


def load_pack() -> Any:
    spec = importlib.util.spec_from_file_location("flarekube_policy_pack", POLICY_MAIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: no analyzer server is started
    return module


def test_pack_wraps_every_rule_and_reports(built: list[tuple[str, dict[str, Any]]]) -> None:
    from pulumi_policy import (
        PolicyCustomTimeouts,
        PolicyResource,
        PolicyResourceOptions,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
    )

    pack = load_pack()
    policies = {p.name: p for p in pack.policies()}
    assert set(policies) == set(rules.RESOURCE_RULES) | set(rules.STACK_RULES)
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    cluster = first(built, rules.EKS_CLUSTER)
    cluster["publicAccessCidrs"] = ["0.0.0.0/0"]
    endpoint = policies["eks-endpoint-restricted"]
    assert isinstance(endpoint, ResourceValidationPolicy)

    def violations(config: dict[str, Any]) -> list[str]:
        seen: list[str] = []
        args = ResourceValidationArgs(rules.EKS_CLUSTER, cluster, "urn:x", "cluster", opts, None, config)
        endpoint.validate(args, lambda message, urn=None: seen.append(message))
        return seen

    assert violations({}) and violations({"allowOpenEndpoint": True}) == []
    moved = [PolicyResource(t, {**p, "subnetIds": ["subnet-public"]} if t == rules.NODE_GROUP else p,
                            f"urn:{i}", str(i), opts, None, None, [], {}) for i, (t, p) in enumerate(built)]
    seen: list[str] = []
    policies["nodes-in-private-subnets"].validate(StackValidationArgs(moved), lambda m, urn=None: seen.append(m))
    assert seen and all("subnet-public" in m for m in seen)
