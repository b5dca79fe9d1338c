"""`up`, `down` and `status` of the local cluster (one node, host processes + containerd).

`up` is idempotent: a healthy cluster is reused in a few seconds; a half-dead one (a crash, a killed
session) is torn down completely and started again; whatever cannot be cleaned is named.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import addons, components, images, network, pki
from . import config as c
from .procs import ComponentDied, ProcessGroup, kill_and_wait

# command -> how to get it
PREREQS = {
    "containerd": "apt-get install containerd", "ctr": "apt-get install containerd",
    "runc": "apt-get install runc", "iptables": "apt-get install iptables",
    "iptables-save": "apt-get install iptables", "iptables-restore": "apt-get install iptables",
    "ip": "apt-get install iproute2", "ss": "apt-get install iproute2",
    "openssl": "apt-get install openssl", "umount": "apt-get install mount",
    "gcc": "apt-get install gcc libc6-dev", "ipset": "apt-get install ipset",
}
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
            "kubectl", "hostpath-provisioner")


def say(msg: str) -> None:
    print(f"[cluster] {msg}", flush=True)


class ClusterError(RuntimeError):
    pass


def preflight(p: c.Paths) -> None:
    missing = []
    if os.geteuid() != 0:
        missing.append("root: the cluster runs containerd, the kubelet and iptables (run as root)")
    missing += [f"{cmd}: {how}" for cmd, how in PREREQS.items() if shutil.which(cmd) is None]
    missing += [f"/usr/lib/cni/{x}: apt-get install containernetworking-plugins"
                for x in CNI_PLUGINS if not Path("/usr/lib/cni", x).exists()]
    if not Path("/bin/busybox").exists():
        missing.append("/bin/busybox: apt-get install busybox-static")
    built = [p.k8s_bin / b for b in BINARIES] + [p.coredns_bin, p.kube_router_bin]
    missing += [f"{b}: make cluster-build" for b in built if not b.exists()]
    if not p.etcd_bin.exists():
        missing.append(f"{p.etcd_bin}: make cluster-build (unpacks Debian trixie's etcd-server)")
    if missing:
        raise ClusterError("missing prerequisites:\n  " + "\n  ".join(missing))


def ports_in_use() -> list[str]:
    listening = network.sh("ss", "-Htlnp", check=False) + network.sh("ss", "-Hulnp", check=False)
    busy = []
    for port, who in c.PORTS.items():
        for line in listening.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[3].rsplit(":", 1)[-1] == str(port):
                busy.append(f"port {port} (wanted by {who}) is in use: {' '.join(cols[5:]) or line}")
                break
    return busy


def kubectl(p: c.Paths, *args: str, stdin: str | None = None, check: bool = True) -> str:
    argv = [str(p.kubectl()), f"--kubeconfig={p.admin_kubeconfig}", *args]
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def api_ready(p: c.Paths) -> bool:
    ctx = ssl.create_default_context(cafile=str(p.pki / "ca.crt"))
    ctx.load_cert_chain(str(p.pki / "admin.crt"), str(p.pki / "admin.key"))
    url = f"https://127.0.0.1:{c.API_PORT}/readyz"
    with urllib.request.urlopen(url, context=ctx, timeout=3) as resp:
        return bool(resp.status == 200)


def etcd_ready() -> bool:
    with urllib.request.urlopen("http://127.0.0.1:2379/health", timeout=3) as resp:
        return b'"health":"true"' in resp.read()


def node_ready(p: c.Paths) -> bool:
    out = kubectl(p, "get", "node", c.NODE_NAME, "-o",
                  'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
    return out.strip() == "True"


def dns_ready(p: c.Paths) -> bool:
    out = kubectl(p, "-n", "kube-system", "get", "deploy", "coredns", "-o",
                  "jsonpath={.status.availableReplicas}", check=False)
    return out.strip() not in ("", "0")


def policy_engine_ready() -> bool:
    """kube-router answers its health check once its policy controller has synced."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{c.KUBE_ROUTER_HEALTH_PORT}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def healthy(p: c.Paths, sup: ProcessGroup) -> bool:
    if any(sup.pid(comp.name) is None for comp in components.components(p)):
        return False
    try:
        return api_ready(p) and node_ready(p) and dns_ready(p) and policy_engine_ready()
    except Exception:
        return False


def write_user_kubeconfig(p: c.Paths) -> Path:
    server = f"https://127.0.0.1:{c.API_PORT}"
    pki.kubeconfig(p.pki, "admin", server, p.user_kubeconfig, user="flarekube-admin")
    return p.user_kubeconfig


def up(p: c.Paths) -> Path:
    t0 = time.monotonic()
    preflight(p)
    sup = ProcessGroup(p.run, p.logs)
    if healthy(p, sup):
        images.ensure_cluster_images(p)  # a rebuilt test image is imported, an unchanged one skipped
        say(f"reusing the running cluster ({time.monotonic() - t0:.1f} s)")
        return write_user_kubeconfig(p)
    if sup.known() or network.leftovers(p):
        for comp in components.components(p):
            if sup.pidfile(comp.name).exists() and sup.pid(comp.name) is None:
                say(f"{comp.name} had died; the last lines of {sup.log(comp.name)}:\n{sup.tail(comp.name, 10)}")
        say("a previous cluster is partly running or left state behind: cleaning it up first")
        down(p)
    busy = ports_in_use()
    if busy:
        raise ClusterError("cannot start:\n  " + "\n  ".join(busy))
    shutil.rmtree(p.data, ignore_errors=True)
    for d in (p.data, p.run, p.logs, p.conf):
        d.mkdir(parents=True, exist_ok=True)
    pki.ensure(p.pki)
    server = f"https://127.0.0.1:{c.API_PORT}"
    for _, (leaf, path) in components.kubeconfigs(p).items():
        pki.kubeconfig(p.pki, leaf, server, path)
    components.write_configs(p)
    network.setup()
    comps = {comp.name: comp for comp in components.components(p)}
    started: list[str] = []

    def start(name: str) -> None:
        sup.start(name, comps[name].argv)
        started.append(name)

    try:
        start("containerd")
        sup.wait("containerd", lambda: bool(images.ctr(p, "version")), started, 30)
        images.ensure_cluster_images(p)
        start("etcd")
        sup.wait("etcd", etcd_ready, started, 30)
        start("kube-apiserver")
        sup.wait("kube-apiserver", lambda: api_ready(p), started, 90)
        for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kube-router",
                     "hostpath-provisioner"):
            start(name)
        say(f"control plane up in {time.monotonic() - t0:.1f} s; applying add-ons")
        sup.wait("add-ons", lambda: bool(kubectl(p, "apply", "-f", "-", stdin=addons.manifests())),
                 started, 60)
        sup.wait(f"node {c.NODE_NAME}", lambda: node_ready(p), started, 90)
        sup.wait("CoreDNS", lambda: dns_ready(p), started, 120)
        sup.wait("kube-router", policy_engine_ready, started, 60)
    except (ComponentDied, TimeoutError) as err:
        raise ClusterError(f"{err}\n(logs in {p.logs}; `make cluster-down` cleans everything up)") from err
    path = write_user_kubeconfig(p)
    say(f"cluster up in {time.monotonic() - t0:.1f} s; KUBECONFIG={path}")
    return path


def down(p: c.Paths) -> None:
    t0 = time.monotonic()
    sup = ProcessGroup(p.run, p.logs)
    for comp in reversed(components.components(p)):
        if comp.name != "containerd":
            # The API server's graceful shutdown waits ~15 s for watches to drain; this cluster's data
            # is thrown away anyway, so it gets 3 s before SIGKILL.
            sup.stop(comp.name, timeout=3 if comp.name == "kube-apiserver" else 10)
    # Pods are killed rather than drained: everything they leave (netns, veths, CNI chains, IPAM
    # leases, mounts) is removed below, which also covers a crash where no graceful path exists.
    kill_and_wait(network.cgroup_pids(), 5)
    sup.stop("containerd")
    leftover = [int(line.split()[0]) for line in network.processes(p)]
    kill_and_wait(leftover, 5)
    network.unmount_all(p)
    network.delete_netns()
    network.clean_iptables()
    network.destroy_ipsets()
    network.delete_links()
    network.remove_cgroups()
    shutil.rmtree(p.run, ignore_errors=True)
    shutil.rmtree(p.data, ignore_errors=True)
    left = network.leftovers(p)
    if left:
        lines = [f"{kind}: {item}" for kind, items in left.items() for item in items]
        raise ClusterError("cluster-down could not remove:\n  " + "\n  ".join(lines))
    say(f"cluster down, nothing left behind ({time.monotonic() - t0:.1f} s)")


def memory_mib(p: c.Paths) -> float:
    total = 0
    for line in network.processes(p):
        try:
            status = Path(f"/proc/{line.split()[0]}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0])
        except (OSError, IndexError):
            continue
    return total / 1024


def status(p: c.Paths) -> bool:
    sup = ProcessGroup(p.run, p.logs)
    ok = True
    for comp in components.components(p):
        pid = sup.pid(comp.name)
        print(f"  {comp.name:<24} {'running pid ' + str(pid) if pid else 'NOT RUNNING'}")
        if pid is None and sup.pidfile(comp.name).exists():
            print("    last log lines:\n" + "\n".join("      " + x for x in sup.tail(comp.name).splitlines()))
        ok = ok and pid is not None
    if not ok:
        print("cluster: not healthy" if sup.known() else "cluster: down")
        return False
    ok = healthy(p, sup)
    print(kubectl(p, "get", "nodes,pods", "-A", "-o", "wide", check=False))
    print(f"cluster: {'healthy' if ok else 'NOT healthy'}; memory (RSS of all its processes): "
          f"{memory_mib(p):.0f} MiB; KUBECONFIG={p.user_kubeconfig}")
    return ok


def main(argv: list[str]) -> int:
    p = c.default_paths()
    cmd = argv[0] if argv else "status"
    try:
        if cmd == "up":
            up(p)
        elif cmd == "down":
            down(p)
        elif cmd == "status":
            return 0 if status(p) else 1
        elif cmd == "preflight":
            preflight(p)
        else:
            print("usage: python -m clustertool up|down|status|preflight", file=sys.stderr)
            return 2
    except ClusterError as err:
        print(f"[cluster] error: {err}", file=sys.stderr)
        return 1
    return 0
