"""The logic the components only wire up: subnets, node groups, volumes, Helm values, IAM, cost."""

from __future__ import annotations

import ipaddress

import pytest
from flarekube_infra import iam, platform, pricing, versions
from flarekube_infra.cluster import GPU_TAINT, block_devices, cluster_args, launch_template_args, node_group_args
from flarekube_infra.config import GpuNodeGroupConfig, load_config
from flarekube_infra.network import choose_azs, subnet_plan, subnet_tags
from flarekube_infra.program import hourly_cost

from . import configs


def test_subnet_plan_is_disjoint_and_inside_the_vpc() -> None:
    plans = subnet_plan("10.40.0.0/16", ["a", "b", "c"])
    nets = [ipaddress.ip_network(c) for p in plans for c in (p.private_cidr, p.public_cidr)]
    vpc = ipaddress.ip_network("10.40.0.0/16")
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert plans[0].private_cidr == "10.40.0.0/19" and plans[0].public_cidr == "10.40.224.0/22"
    smallest = subnet_plan("10.40.0.0/20", ["a", "b"])[0]
    assert ipaddress.ip_network(smallest.public_cidr).num_addresses >= 32  # an NLB needs 8 free IPs per subnet


def test_subnet_tags_for_load_balancers() -> None:
    public, private = subnet_tags("fk", True, {}), subnet_tags("fk", False, {"team": "x"})
    assert public["kubernetes.io/role/elb"] == "1" and "kubernetes.io/role/internal-elb" not in public
    assert private["kubernetes.io/role/internal-elb"] == "1" and "kubernetes.io/role/elb" not in private
    assert private["kubernetes.io/cluster/fk"] == "shared" and private["team"] == "x"


def test_azs_are_where_every_gpu_type_is_offered() -> None:
    offered = {"g5.xlarge": ["us-east-1a", "us-east-1b", "us-east-1d"], "g6.xlarge": ["us-east-1b", "us-east-1d"]}
    assert choose_azs(offered, None, 2) == ["us-east-1b", "us-east-1d"]
    with pytest.raises(ValueError, match="share \\['us-east-1b'\\]; need 2"):
        choose_azs({"g5.xlarge": ["us-east-1a", "us-east-1b"], "p4d.24xlarge": ["us-east-1b"]}, None, 2)
    with pytest.raises(ValueError, match=r"aws\.availabilityZones: not offered there"):
        choose_azs(offered, ["us-east-1a", "us-east-1b"], 2)


def test_gpu_node_group_is_x86_tainted_labelled() -> None:
    group = GpuNodeGroupConfig.model_validate({"name": "gpu", "instanceType": "g6.xlarge", "maxSize": 3})
    args = node_group_args(group, "fk")
    assert args["ami_type"] == "AL2023_x86_64_NVIDIA" and args["instance_types"] == ["g6.xlarge"]
    assert args["taints"] == [GPU_TAINT] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert args["labels"]["nvidia.com/gpu.present"] == "true"
    assert args["labels"][platform.DEVICE_PLUGIN_LABEL] == "helm"
    assert args["scaling_config"] == {"min_size": 0, "desired_size": 1, "max_size": 3}
    bottlerocket = node_group_args(group.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}), "fk")
    assert platform.DEVICE_PLUGIN_LABEL not in bottlerocket["labels"]  # it brings its own plugin
    system = node_group_args(load_config(configs.eks()).aws.system_node_group, "fk")  # type: ignore[union-attr]
    assert system["taints"] == [] and "nvidia.com/gpu.present" not in system["labels"]
    assert system["ami_type"] == "AL2023_x86_64_STANDARD"


def test_volumes_encrypted_and_sized() -> None:
    al2023 = block_devices("AL2023_x86_64_NVIDIA", 200)
    assert al2023 == [{"device_name": "/dev/xvda", "ebs": {"volume_size": 200, "volume_type": "gp3",
                                                          "encrypted": "true", "delete_on_termination": "true"}}]
    rocket = block_devices("BOTTLEROCKET_x86_64_NVIDIA", 150)
    assert [d["ebs"]["volume_size"] for d in rocket] == [4, 150]  # OS volume, then the data volume
    assert all(d["ebs"]["encrypted"] == "true" for d in rocket)
    assert launch_template_args("AL2023_x86_64_NVIDIA", 50, {})["metadata_options"]["http_tokens"] == "required"


def test_cluster_args_private_unless_asked() -> None:
    cfg = load_config(configs.eks(aws__publicEndpoint=False, aws__publicAccessCidrs=[])).aws
    assert cfg is not None
    args = cluster_args(cfg)
    assert args["endpoint_private_access"] is True
    assert args["endpoint_public_access"] is False and args["public_access_cidrs"] is None
    assert args["authentication_mode"] == "API"
    assert args["use_default_vpc_cni"] is False and args["vpc_cni_options"].enable_network_policy is True


def test_helm_values() -> None:
    label = platform.chart_dashboard_labels()
    assert label == {"grafana_dashboard": "1"}  # charts/flarekube/values.yaml
    kps = platform.kube_prometheus_values(label)
    spec = kps["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    sidecar = kps["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"], sidecar["searchNamespace"]) == ("grafana_dashboard", "1", "ALL")
    assert platform.GPU_TOLERATION in platform.dcgm_exporter_values(True)["tolerations"]
    assert platform.device_plugin_values({"a": "b"})["nodeSelector"] == {"a": "b"}
    assert "nodeSelector" not in platform.device_plugin_values(None)
    op = platform.gpu_operator_values(all_bottlerocket=True)
    assert op["driver"]["enabled"] is False and op["toolkit"]["enabled"] is False
    assert op["devicePlugin"]["enabled"] is False
    lbc = platform.load_balancer_controller_values("fk", "us-east-1", "vpc-1", "arn:role")
    assert lbc["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:role"}
    chart = load_config(configs.eks()).platform.flarekube.model_copy(update={"image_tag": "0.2.0"})
    assert platform.flarekube_values(chart, True) == {"monitoring": {"enabled": True}, "watchNamespaces": [],
                                                      "image": {"tag": "0.2.0"}}
    assert platform.storage_class_manifest()["parameters"]["encrypted"] == "true"


def test_irsa_trust_is_one_service_account() -> None:
    doc = iam.irsa_trust_policy("arn:oidc", "https://oidc.eks.x/id/1", "kube-system", "sa")
    cond = doc["Statement"][0]["Condition"]["StringEquals"]
    assert cond == {"oidc.eks.x/id/1:sub": "system:serviceaccount:kube-system:sa",
                    "oidc.eks.x/id/1:aud": "sts.amazonaws.com"}
    lbc = iam.load_balancer_controller_policy("fk")
    writes = [s for s in lbc["Statement"] if "elasticloadbalancing:DeleteLoadBalancer" in s.get("Action", [])]
    assert writes and writes[0]["Condition"] == {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}


def test_cost_from_types_and_counts() -> None:
    cfg = load_config(configs.eks())
    # control plane 0.10 + 2 x m6i.large 0.096 + 1 x g5.xlarge 1.006 + 1 NAT 0.045 + 1 NLB 0.0225
    assert hourly_cost(cfg, nat_gateways=1) == round(0.10 + 2 * 0.096 + 1.006 + 0.045 + 0.0225, 2) == 1.37
    assert pricing.estimated_hourly_cost({"g5.12xlarge": 2}, 0, 0, eks=False) == 11.34
    with pytest.raises(KeyError, match="not in the price table"):
        pricing.price("x9.huge")
    assert set(pricing.GPU_TYPES) >= {"g4dn.xlarge", "g5.xlarge", "g6.xlarge", "p4d.24xlarge"}


def test_chart_pins_are_exact_versions() -> None:
    for pin in versions.ALL_CHARTS:
        assert pin.repo.startswith("https://") and pin.version[0] in "v0123456789" and "*" not in pin.version
