"""Every third-party chart version the platform installs, pinned here and nowhere else.

Upgrading a chart is one edit in this file (and a preview): the Platform component and the README read
these pins, so a version never drifts between two places.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    repo: str
    chart: str
    version: str


NVIDIA_DEVICE_PLUGIN = ChartPin("https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin", "0.17.1")
GPU_OPERATOR = ChartPin("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v25.3.0")
DCGM_EXPORTER = ChartPin("https://nvidia.github.io/dcgm-exporter/helm-charts", "dcgm-exporter", "4.1.1")
AWS_LOAD_BALANCER_CONTROLLER = ChartPin("https://aws.github.io/eks-charts", "aws-load-balancer-controller", "1.13.0")
KUBE_PROMETHEUS_STACK = ChartPin(
    "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "72.6.2"
)

# EKS managed add-ons are versioned by AWS per Kubernetes minor; None lets EKS pick the default
# version for the cluster's minor, which is what AWS tests together.
EKS_ADDON_VERSIONS: dict[str, str | None] = {"vpc-cni": None, "aws-ebs-csi-driver": None}

ALL_CHARTS = (NVIDIA_DEVICE_PLUGIN, GPU_OPERATOR, DCGM_EXPORTER, AWS_LOAD_BALANCER_CONTROLLER, KUBE_PROMETHEUS_STACK)
