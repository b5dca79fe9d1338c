"""Command lines and config files of each component, in start order.

Flags worth a note are the traps measured on this VM (see the issue): no CAP_SYS_RESOURCE (containerd's
restrict_oom_score_adj, oomScoreAdj 0 for the kubelet and kube-proxy), cgroup v1 only (failCgroupV1
false, cgroupfs driver), no IPVS (kube-proxy iptables mode), no registry (a local pause image).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import config as c
from .oci import full_name


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]


def containerd_toml(p: c.Paths) -> str:
    return f"""version = 2
root = "{p.state / "containerd"}"
state = "{p.run / "containerd"}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{p.containerd_sock}"
[ttrpc]
  address = "{p.containerd_sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{p.state / "containerd-opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{full_name(c.PAUSE_IMAGE)}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{p.conf / "cni"}"
"""


def cni_conflist(p: c.Paths) -> str:
    bridge = {
        "type": "bridge", "bridge": c.BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": c.POD_CIDR, "rangeStart": "10.88.1.1", "gateway": c.NODE_IP}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(p.data / "cni-ipam"),
        },
    }
    portmap = {"type": "portmap", "capabilities": {"portMappings": True}}
    return json.dumps({"cniVersion": "1.0.0", "name": "flarekube", "plugins": [bridge, portmap]}, indent=1)


def kubelet_yaml(p: c.Paths) -> str:
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {c.NODE_IP}
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {p.pki / "ca.crt"}}}
authorization: {{mode: Webhook}}
tlsCertFile: {p.pki / "kubelet-serving.crt"}
tlsPrivateKeyFile: {p.pki / "kubelet-serving.key"}
containerRuntimeEndpoint: unix://{p.containerd_sock}
cgroupDriver: cgroupfs
failCgroupV1: false
oomScoreAdj: 0
failSwapOn: false
clusterDomain: {c.CLUSTER_DOMAIN}
clusterDNS: [{c.DNS_SERVICE_IP}]
resolvConf: /etc/resolv.conf
# Images are imported, not pulled: the garbage collector must never delete them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {{memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}}
serializeImagePulls: false
maxPods: 110
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
makeIPTablesUtilChains: true
"""


def kube_proxy_yaml(p: c.Paths) -> str:
    return f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {p.conf / "kube-proxy.kubeconfig"}}}
hostnameOverride: {c.NODE_NAME}
bindAddress: {c.NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: {c.POD_CIDR}
oomScoreAdj: 0
# 0 keeps the kernel's conntrack settings: the VM does not let us raise them.
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
"""


# The API server's audit log is the oracle of the least-privilege test (issue 12): every request a
# ServiceAccount makes, at Metadata level (who, verb, resource, namespace, response code; never bodies,
# so no Secret data lands in the log). Everything else is not logged.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts"]
- level: None
"""


def audit_log(p: c.Paths) -> Path:
    return p.logs / "audit.log"


def write_configs(p: c.Paths) -> None:
    (p.conf / "cni").mkdir(parents=True, exist_ok=True)
    files = {
        p.conf / "containerd.toml": containerd_toml(p),
        p.conf / "cni" / "10-flarekube.conflist": cni_conflist(p),
        p.conf / "kubelet.yaml": kubelet_yaml(p),
        p.conf / "kube-proxy.yaml": kube_proxy_yaml(p),
        p.conf / "audit-policy.yaml": AUDIT_POLICY,
    }
    for path, text in files.items():
        path.write_text(text)


def components(p: c.Paths) -> list[Component]:
    b, pki, conf, data = p.k8s_bin, p.pki, p.conf, p.data
    etcd_url = "http://127.0.0.1:2379"
    # etcd on loopback without TLS: only root on this machine can reach it, and it keeps the
    # certificates to the ones Kubernetes itself needs. No fsync: this cluster is for tests.
    etcd = [str(p.etcd_bin), "--name", c.NODE_NAME, "--data-dir", str(data / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", f"{c.NODE_NAME}=http://127.0.0.1:2380",
            "--unsafe-no-fsync", "--log-level", "warn"]
    apiserver = [
        str(b / "kube-apiserver"), f"--etcd-servers={etcd_url}",
        f"--advertise-address={c.NODE_IP}", f"--secure-port={c.API_PORT}",
        f"--service-cluster-ip-range={c.SERVICE_CIDR}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer=https://kubernetes.default.svc.{c.CLUSTER_DOMAIN}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--authorization-mode=Node,RBAC",
        # The aggregation layer (and the extension-apiserver-authentication ConfigMap every component reads).
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        "--enable-admission-plugins=NodeRestriction",  # on top of the defaults, PodSecurity among them
        "--allow-privileged=true", "--profiling=false", "--v=1",
        f"--audit-policy-file={conf / 'audit-policy.yaml'}", f"--audit-log-path={audit_log(p)}",
        "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
    ]
    kcm = [
        str(b / "kube-controller-manager"), f"--kubeconfig={conf / 'controller-manager.kubeconfig'}",
        f"--authentication-kubeconfig={conf / 'controller-manager.kubeconfig'}",
        f"--authorization-kubeconfig={conf / 'controller-manager.kubeconfig'}",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--use-service-account-credentials=true", "--leader-elect=false",
        f"--service-cluster-ip-range={c.SERVICE_CIDR}", "--bind-address=127.0.0.1",
        "--profiling=false", "--v=1",
    ]
    scheduler = [
        str(b / "kube-scheduler"), f"--kubeconfig={conf / 'scheduler.kubeconfig'}",
        f"--authentication-kubeconfig={conf / 'scheduler.kubeconfig'}",
        f"--authorization-kubeconfig={conf / 'scheduler.kubeconfig'}",
        "--leader-elect=false", "--bind-address=127.0.0.1", "--profiling=false", "--v=1",
    ]
    kubelet = [
        str(b / "kubelet"), f"--config={conf / 'kubelet.yaml'}",
        f"--kubeconfig={conf / 'kubelet.kubeconfig'}", f"--root-dir={data / 'kubelet'}",
        f"--node-ip={c.NODE_IP}", f"--hostname-override={c.NODE_NAME}", "--v=1",
    ]
    proxy = [str(b / "kube-proxy"), f"--config={conf / 'kube-proxy.yaml'}", "--v=1"]
    # NetworkPolicy enforcement only (iptables + ipset): routing and service proxying stay with the
    # bridge CNI and kube-proxy. A test component; see tests/cluster/go/kube-router/go.mod.
    kube_router = [str(p.kube_router_bin), f"--kubeconfig={conf / 'kube-router.kubeconfig'}",
                   "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
                   "--enable-cni=false", f"--hostname-override={c.NODE_NAME}",
                   f"--service-cluster-ip-range={c.SERVICE_CIDR}",
                   f"--health-port={c.KUBE_ROUTER_HEALTH_PORT}", "--metrics-port=0", "--v=1"]
    provisioner = [str(b / "hostpath-provisioner"), f"--kubeconfig={conf / 'provisioner.kubeconfig'}",
                   f"--root={data / 'volumes'}"]
    return [
        Component("containerd", ["containerd", "--config", str(conf / "containerd.toml")]),
        Component("etcd", etcd),
        Component("kube-apiserver", apiserver),
        Component("kube-controller-manager", kcm),
        Component("kube-scheduler", scheduler),
        Component("kubelet", kubelet),
        Component("kube-proxy", proxy),
        Component("kube-router", kube_router),
        Component("hostpath-provisioner", provisioner),
    ]


def kubeconfigs(p: c.Paths) -> dict[str, tuple[str, Path]]:
    """kubeconfig name -> (certificate, path); components talk to the API server over loopback."""
    return {name: (leaf, p.conf / f"{name}.kubeconfig") for name, leaf in (
        ("admin", "admin"), ("controller-manager", "controller-manager"), ("scheduler", "scheduler"),
        ("kubelet", "kubelet"), ("kube-proxy", "kube-proxy"), ("provisioner", "provisioner"),
        ("kube-router", "kube-router"))}
