"""Each component's wiring under Pulumi mocks: what AWS and Kubernetes would be asked to create."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flarekube import naming
from flarekube.preflight import Check
from flarekube_infra import versions
from flarekube_infra.config import InfraConfig, load_config
from flarekube_infra.program import program

from . import configs
from .harness import NLB_HOSTNAME, Mocks, run

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def run_config(raw: dict[str, Any], mocks: Mocks | None = None) -> Mocks:
    config: InfraConfig = load_config(raw)
    return run(lambda: program(config, preflight=None), mocks or Mocks())


@pytest.fixture(scope="module")
def eks() -> Mocks:
    return run_config(configs.eks())


def test_gpu_node_groups_x86_tainted_private(eks: Mocks) -> None:
    groups = {r.props["nodeGroupName"]: r for r in eks.of(NODE_GROUP)}
    assert set(groups) == {"flarekube-system", "flarekube-gpu-a10g"}
    gpu = groups["flarekube-gpu-a10g"].props
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA" and gpu["instanceTypes"] == ["g5.xlarge"]
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"]["nvidia.com/gpu.present"] == "true"
    assert gpu["scalingConfig"] == {"minSize": 0, "desiredSize": 1, "maxSize": 4}
    private = {r.props["id"] for r in eks.of("aws:ec2/subnet:Subnet") if "private" in r.name}
    assert len(private) == 2 and set(gpu["subnetIds"]) == private
    # Tied to the cluster by name + depends_on, not by passing the opaque eks.Cluster (pulumi#6561).
    assert gpu["clusterName"] == "flarekube" and "cluster" in groups["flarekube-gpu-a10g"].depends_on
    template = next(r for r in eks.of("aws:ec2/launchTemplate:LaunchTemplate") if r.name == "cluster-gpu-a10g")
    assert gpu["launchTemplate"]["id"] == template.props["id"]
    assert template.props["blockDeviceMappings"][0]["ebs"] == {
        "volumeSize": 200, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}


def test_network_spans_two_azs_with_nat_and_lb_tags(eks: Mocks) -> None:
    subnets = eks.of("aws:ec2/subnet:Subnet")
    assert sorted({s.props["availabilityZone"] for s in subnets}) == ["us-east-1a", "us-east-1b"]
    assert all(s.props["mapPublicIpOnLaunch"] is False for s in subnets)
    public = [s for s in subnets if s.props["tags"].get("kubernetes.io/role/elb") == "1"]
    assert len(public) == 2 and len(eks.of("aws:ec2/natGateway:NatGateway")) == 1
    private_routes = [r for r in eks.of("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert all(r.props["routes"][0]["natGatewayId"] for r in private_routes)


def test_azs_follow_the_gpu_offering() -> None:
    mocks = Mocks(offered={"g5.xlarge": ["us-east-1c", "us-east-1d", "us-east-1f"]})
    run_config(configs.eks(aws__azCount=3, aws__natGateways="perAz"), mocks)
    assert sorted({s.props["availabilityZone"] for s in mocks.of("aws:ec2/subnet:Subnet")}) == [
        "us-east-1c", "us-east-1d", "us-east-1f"]
    assert len(mocks.of("aws:ec2/natGateway:NatGateway")) == 3


def test_cluster_private_encrypted_network_policy(eks: Mocks) -> None:
    (cluster,) = eks.of("eks:index:Cluster")
    p = cluster.props
    assert p["authenticationMode"] == "API" and p["endpointPrivateAccess"] is True
    assert p["endpointPublicAccess"] is True and p["publicAccessCidrs"] == ["203.0.113.0/24"]  # asked, restricted
    (key,) = eks.of("aws:kms/key:Key")
    assert p["encryptionConfigKeyArn"] == key.props["arn"] and key.props["enableKeyRotation"] is True
    assert p["useDefaultVpcCni"] is False and p["vpcCniOptions"]["enableNetworkPolicy"] is True
    private = run_config(configs.eks(aws__publicEndpoint=False, aws__publicAccessCidrs=[]))
    (closed,) = private.of("eks:index:Cluster")
    assert closed.props["endpointPublicAccess"] is False and "publicAccessCidrs" not in closed.props


def test_irsa_roles_trust_one_service_account(eks: Mocks) -> None:
    (oidc,) = eks.of("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.props["clientIdLists"] == ["sts.amazonaws.com"] and oidc.props["url"].startswith("https://oidc.eks")
    lbc = next(r for r in eks.of("aws:iam/role:Role") if r.name.endswith("aws-load-balancer-controller"))
    cond = json.loads(lbc.props["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:kube-system:aws-load-balancer-controller" in cond.values()
    (ebs,) = eks.of("aws:eks/addon:Addon")
    assert ebs.props["addonName"] == "aws-ebs-csi-driver" and ebs.props["serviceAccountRoleArn"].endswith("ebs-csi")


def test_platform_charts_pinned_and_switchable(eks: Mocks) -> None:
    releases = {r.props["name"]: r.props for r in eks.of("kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"aws-load-balancer-controller", "kube-prometheus-stack", "nvidia-device-plugin",
                             "dcgm-exporter", "flarekube"}
    pins = {p.chart: p for p in versions.ALL_CHARTS}
    for name, props in releases.items():
        if name != "flarekube":
            assert props["version"] == pins[props["chart"]].version
            assert props["repositoryOpts"]["repo"] == pins[props["chart"]].repo
    assert releases["flarekube"]["chart"].endswith("charts/flarekube")
    assert releases["flarekube"]["values"]["monitoring"]["enabled"] is True
    assert releases["nvidia-device-plugin"]["values"]["nodeSelector"] == {"flarekube.io/device-plugin": "helm"}
    lbc = releases["aws-load-balancer-controller"]["values"]
    assert lbc["vpcId"] == "network-vpc-id" and lbc["clusterName"] == "flarekube"
    (sc,) = eks.of("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.props["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    off = run_config(configs.eks(platform={"gpuStack": "none", "monitoring": False, "dcgmExporter": False,
                                           "loadBalancerController": True}))
    assert {r.props["name"] for r in off.of("kubernetes:helm.sh/v3:Release")} == {
        "aws-load-balancer-controller", "flarekube"}


def test_bottlerocket_skips_device_plugin_gpu_operator_without_driver() -> None:
    group = {"name": "gpu", "instanceType": "g6.xlarge", "amiType": "BOTTLEROCKET_x86_64_NVIDIA"}
    rocket = run_config(configs.eks(aws__gpuNodeGroups=[group]))
    names = {r.props["name"] for r in rocket.of("kubernetes:helm.sh/v3:Release")}
    assert "nvidia-device-plugin" not in names and "dcgm-exporter" in names
    op = run_config(configs.eks(platform={"gpuStack": "gpu-operator"}))
    (gpu_op,) = [r for r in op.of("kubernetes:helm.sh/v3:Release") if r.props["name"] == "gpu-operator"]
    assert gpu_op.props["values"]["driver"] == {"enabled": False}
    assert gpu_op.props["values"]["toolkit"] == {"enabled": False}


def test_federation_flproject_before_operator_and_nlb(eks: Mocks) -> None:
    (cr,) = eks.of("kubernetes:flarekube.io/v1alpha1:FLProject")
    assert cr.props["apiVersion"] == "flarekube.io/v1alpha1" and cr.props["metadata"]["namespace"] == "hospitals"
    assert cr.props["spec"]["server"]["host"] == "fl.hospitals.example.org"
    # depends_on the operator's release: destroy deletes the FLProject while the operator still runs.
    assert "platform-flarekube" in cr.depends_on
    (svc,) = eks.of("kubernetes:core/v1:Service")
    notes = svc.props["metadata"]["annotations"]
    assert notes["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert notes["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" not in notes
    spec = svc.props["spec"]
    assert spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert [(p["port"], p["protocol"]) for p in spec["ports"]] == [(8002, "TCP"), (8003, "TCP")]
    assert spec["loadBalancerSourceRanges"] == ["198.51.100.0/24", "192.0.2.0/24"]
    assert spec["selector"] == naming.server_labels("crc")  # the operator's own server pod labels


def test_route53_record_points_the_fixed_name_at_the_balancer() -> None:
    mocks = run_config(configs.eks(federation__route53ZoneId="Z0123456789ABC"))
    (record,) = mocks.of("aws:route53/record:Record")
    assert record.props["name"] == "fl.hospitals.example.org" and record.props["type"] == "CNAME"
    assert record.props["records"] == [NLB_HOSTNAME]


def test_existing_cluster_mode_creates_nothing_on_aws(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    fed = configs.eks()["federation"]
    mocks = run_config({"mode": "existing", "kubeconfig": str(kubeconfig), "context": "local",
                        "platform": {"gpuStack": "none", "monitoring": False}, "federation": fed})
    types = {r.typ for r in mocks.resources}
    assert not any(t.startswith(("aws:", "eks:", "pulumi:providers:aws")) for t in types), types
    (provider,) = mocks.of("pulumi:providers:kubernetes")
    assert provider.props["context"] == "local"
    secret = provider.props["kubeconfig"]  # the engine's secret envelope: {<sig>: <secret sig>, "value": ...}
    assert isinstance(secret, dict) and "clusters: []" in secret["value"]
    assert {r.props["name"] for r in mocks.of("kubernetes:helm.sh/v3:Release")} == {"flarekube"}
    assert mocks.of("kubernetes:flarekube.io/v1alpha1:FLProject") and not mocks.of("kubernetes:core/v1:Service")
    assert not mocks.calls  # no AWS lookups either


def test_failed_preflight_stops_the_program_with_its_message() -> None:
    import pulumi

    config = load_config(configs.eks())
    failing = [Check("AWS identity", True, "ok"),
               Check("vCPU quota L-DB2E81BA", False, "quota 0 vCPUs < 16 needed", "request an increase")]
    mocks = Mocks()
    with pytest.raises(pulumi.RunError, match="FAIL vCPU quota L-DB2E81BA: quota 0 vCPUs < 16 needed"):
        run(lambda: program(config, preflight=lambda _: failing), mocks)
    assert not mocks.resources  # nothing declared


def test_preflight_gets_every_gpu_group_at_max_size() -> None:
    seen: list[InfraConfig] = []
    config = load_config(configs.eks())
    run(lambda: program(config, preflight=lambda c: seen.append(c) or [Check("x", True, "")]), Mocks())
    assert seen == [config]
