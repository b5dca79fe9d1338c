"""Platform: what any cluster needs before flarekube runs there — GPU scheduling, GPU metrics,
Prometheus, (on AWS) the load balancer controller and a default StorageClass — then the flarekube chart.

Each Helm values dict comes from a pure function (tested directly); chart versions come from versions.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from flarekube_infra import versions
from flarekube_infra.cluster import DEVICE_PLUGIN_LABEL, GPU_TAINT
from flarekube_infra.config import ChartConfig, PlatformConfig

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "flarekube"
MONITORING_NAMESPACE = "monitoring"
GPU_TOLERATION = {"key": GPU_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}


def chart_dashboard_labels(chart_dir: Path = CHART_DIR) -> dict[str, str]:
    """The label the flarekube chart puts on its dashboard ConfigMap: Grafana's sidecar must match it."""
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    labels: dict[str, str] = values["monitoring"]["dashboard"]["labels"]
    if len(labels) != 1:
        raise ValueError(f"{chart_dir}/values.yaml: expected one dashboard label, got {labels}")
    return labels


def device_plugin_values(node_selector: dict[str, str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {"tolerations": [GPU_TOLERATION], "priorityClassName": "system-node-critical"}
    if node_selector:
        values["nodeSelector"] = node_selector
    return values


def gpu_operator_values(all_bottlerocket: bool) -> dict[str, Any]:
    """Driver and toolkit come with the AMI (AL2023/Bottlerocket NVIDIA): the operator must not
    install them again; Bottlerocket also brings its device plugin."""
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "devicePlugin": {"enabled": not all_bottlerocket},
        # DCGM exporter is its own release (it works the same without the operator).
        "dcgmExporter": {"enabled": False},
        "daemonsets": {"tolerations": [GPU_TOLERATION]},
    }


def dcgm_exporter_values(service_monitor: bool) -> dict[str, Any]:
    return {
        "tolerations": [GPU_TOLERATION],
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "serviceMonitor": {"enabled": service_monitor, "interval": "30s"},
    }


def load_balancer_controller_values(cluster_name: str, region: str, vpc_id: str, role_arn: str) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,  # passed, not read from IMDS: node IMDS is one hop only (cluster.py)
        "serviceAccount": {"create": True, "name": "aws-load-balancer-controller",
                           "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        # Only NLBs for Services are used; the IAM policy (iam.py) grants nothing for these.
        "enableShield": False, "enableWaf": False, "enableWafv2": False,
        "replicaCount": 2,
    }


def kube_prometheus_values(dashboard_labels: dict[str, str]) -> dict[str, Any]:
    """Without the *NilUsesHelmValues=false switches Prometheus selects only this release's own
    monitors, so flarekube's ServiceMonitor, PrometheusRule (and DCGM's monitor) would be ignored."""
    (label, value), = dashboard_labels.items()
    return {
        "prometheus": {"prometheusSpec": {
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "retention": "15d",
        }},
        "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": label, "labelValue": value,
                                               "searchNamespace": "ALL"}}},
    }


def flarekube_values(chart: ChartConfig, monitoring: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"monitoring": {"enabled": monitoring}, "watchNamespaces": list(chart.watch_namespaces)}
    image = {k: v for k, v in (("repository", chart.image_repository), ("tag", chart.image_tag)) if v}
    if image:
        values["image"] = image
    return values


def storage_class_manifest() -> dict[str, Any]:
    return {
        "metadata": {"name": "gp3-encrypted",
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        # Bind where the pod lands: an EBS volume lives in one AZ.
        "volume_binding_mode": "WaitForFirstConsumer",
        "reclaim_policy": "Retain",  # the server's workspace holds its state; never lost with a PVC
        "allow_volume_expansion": True,
    }


@dataclass(frozen=True)
class AwsPlatformArgs:
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    load_balancer_controller_role_arn: pulumi.Input[str]


@dataclass(frozen=True)
class PlatformArgs:
    kubeconfig: pulumi.Input[str]
    config: PlatformConfig
    context: str | None = None
    gpu_ami_types: Sequence[str] = ()  # empty: an existing cluster, GPU nodes unknown
    aws: AwsPlatformArgs | None = None
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class Platform(pulumi.ComponentResource):
    provider: k8s.Provider
    operator: k8s.helm.v3.Release
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flarekube:infra:Platform", name, None, opts)
        cfg = args.config
        # Every Kubernetes object goes through this provider: never the ambient ~/.kube/config.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=args.kubeconfig, context=args.context,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.releases = {}
        base = pulumi.ResourceOptions(parent=self, provider=self.provider)

        def release(key: str, pin: versions.ChartPin, namespace: str, values: pulumi.Input[dict[str, Any]],
                    after: Sequence[pulumi.Resource] = ()) -> k8s.helm.v3.Release:
            r = k8s.helm.v3.Release(
                f"{name}-{key}", name=key, chart=pin.chart, version=pin.version, namespace=namespace,
                create_namespace=True, repository_opts={"repo": pin.repo}, values=values,
                opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(after))),
            )
            self.releases[key] = r
            return r

        if args.aws is not None:
            if cfg.storage_class:
                k8s.storage.v1.StorageClass(f"{name}-gp3", **storage_class_manifest(), opts=base)
            if cfg.load_balancer_controller:
                a = args.aws
                values = pulumi.Output.all(a.vpc_id, a.load_balancer_controller_role_arn).apply(
                    lambda v: load_balancer_controller_values(a.cluster_name, a.region, v[0], v[1])
                )
                release("aws-load-balancer-controller", versions.AWS_LOAD_BALANCER_CONTROLLER, "kube-system", values)
        monitoring: list[pulumi.Resource] = []
        if cfg.monitoring:
            monitoring.append(release("kube-prometheus-stack", versions.KUBE_PROMETHEUS_STACK, MONITORING_NAMESPACE,
                                      kube_prometheus_values(chart_dashboard_labels())))
        amis = list(args.gpu_ami_types)
        all_bottlerocket = bool(amis) and all(a.startswith("BOTTLEROCKET") for a in amis)
        if cfg.gpu_stack == "device-plugin" and not all_bottlerocket:
            selector = {DEVICE_PLUGIN_LABEL: "helm"} if amis else None  # our node groups carry the label
            release("nvidia-device-plugin", versions.NVIDIA_DEVICE_PLUGIN, "kube-system",
                    device_plugin_values(selector))
        elif cfg.gpu_stack == "gpu-operator":
            release("gpu-operator", versions.GPU_OPERATOR, "gpu-operator", gpu_operator_values(all_bottlerocket))
        if cfg.dcgm_exporter and cfg.gpu_stack != "none":
            release("dcgm-exporter", versions.DCGM_EXPORTER, MONITORING_NAMESPACE,
                    dcgm_exporter_values(cfg.monitoring), after=monitoring)
        # The chart renders its ServiceMonitor/PrometheusRule only if the CRDs exist: after Prometheus.
        self.operator = k8s.helm.v3.Release(
            f"{name}-flarekube", name="flarekube", chart=str(CHART_DIR), namespace=cfg.flarekube.namespace,
            create_namespace=True, values=flarekube_values(cfg.flarekube, cfg.monitoring),
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=monitoring)),
        )
        self.register_outputs({"releases": sorted(self.releases), "operatorNamespace": cfg.flarekube.namespace})
