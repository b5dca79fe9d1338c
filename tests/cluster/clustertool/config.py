"""Versions, addresses, ports and paths of the local test cluster: the one place they are decided.

State lives outside the clone (one cluster per machine, shared by every clone, so CI's fresh clone reuses
a cluster that is already up); only the kubeconfig is written into the clone, under `.cluster/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = os.environ.get("K8S_VERSION", "v1.35.4")
COREDNS_VERSION = os.environ.get("COREDNS_VERSION", "v1.15.0")
HELM_VERSION = os.environ.get("HELM_VERSION", "v3.22.0")
# A TEST component (issue 12): kube-router's NetworkPolicy controller only, built from
# tests/cluster/go/kube-router (whose go.mod bumps the dependencies flagged in v2.1.0).
KUBE_ROUTER_VERSION = os.environ.get("KUBE_ROUTER_VERSION", "v2.1.0")
KUBE_ROUTER_HEALTH_PORT = 20244
IMAGE_TAG = "0.1.0"

NODE_NAME = "flarekube"
BRIDGE = "flarekube0"
# The node IP is the bridge's own address: the kubelet refuses a loopback node IP, and the VM's eth0
# address may change between machines while this one is ours.
NODE_IP = "10.88.0.1"
POD_CIDR = "10.88.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
API_PORT = 6443

# Every port a component listens on, named so that a clash says who wanted it.
PORTS: dict[int, str] = {
    2379: "etcd client",
    2380: "etcd peer",
    API_PORT: "kube-apiserver",
    10250: "kubelet",
    10248: "kubelet healthz",
    10256: "kube-proxy healthz",
    10249: "kube-proxy metrics",
    10257: "kube-controller-manager",
    10259: "kube-scheduler",
    KUBE_ROUTER_HEALTH_PORT: "kube-router healthz",
}

PAUSE_IMAGE = f"flarekube/pause:{IMAGE_TAG}"
COREDNS_IMAGE = f"flarekube/coredns:{IMAGE_TAG}"
TESTBOX_IMAGE = f"flarekube/testbox:{IMAGE_TAG}"
CONTAINERD_NAMESPACE = "k8s.io"


@dataclass(frozen=True)
class Paths:
    cache: Path
    state: Path  # persistent: PKI, containerd's image store (kept across down/up so images stay imported)
    run: Path  # volatile: sockets, pid files, containerd state; removed by `down`
    clone: Path

    @property
    def k8s_bin(self) -> Path:
        return self.cache / "k8s" / K8S_VERSION / "bin"

    @property
    def etcd_bin(self) -> Path:
        return self.cache / "etcd" / "usr" / "bin" / "etcd"

    @property
    def coredns_bin(self) -> Path:
        return self.cache / "coredns" / COREDNS_VERSION / "coredns"

    @property
    def kube_router_bin(self) -> Path:
        return self.cache / "kube-router" / KUBE_ROUTER_VERSION / "kube-router"

    @property
    def helm_bin(self) -> Path:
        return self.cache / "helm" / HELM_VERSION / "helm"

    @property
    def images(self) -> Path:
        return self.cache / "images"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def data(self) -> Path:
        """Per-cluster data (etcd, kubelet, volumes, CNI IPAM), wiped by `down`: each `up` starts anew."""
        return self.state / "data"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def conf(self) -> Path:
        return self.state / "conf"

    @property
    def containerd_sock(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.conf / "admin.kubeconfig"

    @property
    def user_kubeconfig(self) -> Path:
        return self.clone / ".cluster" / "kubeconfig"

    def kubectl(self) -> Path:
        return self.k8s_bin / "kubectl"


def default_paths(clone: Path | None = None) -> Paths:
    here = Path(__file__).resolve().parents[3] if clone is None else clone
    cache = Path(os.environ.get("CACHE", Path.home() / ".cache" / "flarekube"))
    state = Path(os.environ.get("FLAREKUBE_CLUSTER_STATE", "/var/lib/flarekube-cluster"))
    run = Path(os.environ.get("FLAREKUBE_CLUSTER_RUN", "/run/flarekube-cluster"))
    return Paths(cache=cache, state=state, run=run, clone=here)
