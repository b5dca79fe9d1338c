"""The node's network and everything `down` must leave clean: the bridge, pod network namespaces, the
iptables chains of kube-proxy, the kubelet and the CNI plugins, mounts and cgroups.

`leftovers()` is the single definition of "something was left behind": `down` ends by calling it, and
the cluster test asserts on it after a real down.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import config as c

CHAIN = re.compile(r"\b(KUBE-[A-Z0-9-]+|CNI-[A-Za-z0-9-]+)\b")
IPTABLES = ("iptables", "ip6tables")


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def _sysctl(key: str, value: str) -> None:
    path = Path("/proc/sys") / key.replace(".", "/")
    if path.exists() and path.read_text().strip() != value:
        path.write_text(value)


def setup() -> None:
    """The bridge exists before the kubelet starts, because its address is the node IP."""
    if not Path(f"/sys/class/net/{c.BRIDGE}").exists():
        sh("ip", "link", "add", c.BRIDGE, "type", "bridge")
    addrs = sh("ip", "-o", "-4", "addr", "show", "dev", c.BRIDGE)
    if f"{c.NODE_IP}/" not in addrs:
        sh("ip", "addr", "add", f"{c.NODE_IP}/16", "dev", c.BRIDGE)
    sh("ip", "link", "set", c.BRIDGE, "up")
    _sysctl("net.ipv4.ip_forward", "1")
    if not Path("/proc/sys/net/bridge").exists():
        sh("modprobe", "br_netfilter", check=False)
    # Pod-to-service traffic crosses the bridge; without this kube-proxy's DNAT would not see it.
    _sysctl("net.bridge.bridge-nf-call-iptables", "1")


def our_mounts(p: c.Paths) -> list[str]:
    roots = (str(p.state), str(p.run), "/run/netns/cni-", "/var/run/netns/cni-",
             "/run/containerd/io.containerd")
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(roots):
            out.append(point)
    return out


def unmount_all(p: c.Paths) -> None:
    # Deepest first; lazy as a last resort so a busy mount cannot wedge `down`.
    for _ in range(3):
        points = sorted(our_mounts(p), key=len, reverse=True)
        if not points:
            return
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)


def netns() -> list[str]:
    d = Path("/run/netns")
    return sorted(x.name for x in d.iterdir() if x.name.startswith("cni-")) if d.is_dir() else []


def delete_netns() -> None:
    for name in netns():
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def iptables_leftovers() -> list[str]:
    out = []
    for tool in IPTABLES:
        if shutil.which(f"{tool}-save") is None:  # never installed: nothing of ours can be there
            continue
        proc = subprocess.run([f"{tool}-save"], capture_output=True, text=True)
        out += [f"{tool}: {line}" for line in proc.stdout.splitlines() if CHAIN.search(line)]
    return out


def clean_iptables() -> None:
    """Drops every rule that names a KUBE-*/CNI-* chain and the chains themselves, table by table,
    with iptables-restore: atomic per table and it leaves every other rule of the machine alone."""
    for tool in IPTABLES:
        if shutil.which(f"{tool}-save") is None:
            continue
        saved = subprocess.run([f"{tool}-save"], capture_output=True, text=True).stdout
        if not CHAIN.search(saved):
            continue
        kept = [line for line in saved.splitlines() if not CHAIN.search(line)]
        subprocess.run([f"{tool}-restore"], input="\n".join(kept) + "\n", text=True, capture_output=True,
                       check=True)


def ipsets() -> list[str]:
    """kube-router's ipsets (KUBE-SRC-*, KUBE-DST-*, ...): they outlive its process."""
    if shutil.which("ipset") is None:
        return []
    out = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True).stdout
    return sorted(n for n in out.split() if n.startswith("KUBE-"))


def destroy_ipsets() -> None:
    """After clean_iptables: a set still named by a rule cannot be destroyed."""
    for name in ipsets():
        subprocess.run(["ipset", "destroy", name], capture_output=True)


def links() -> list[str]:
    """The bridge and any veth still attached to it."""
    out = []
    for dev in Path("/sys/class/net").iterdir():
        master = dev / "master"
        if dev.name == c.BRIDGE or (master.exists() and os.path.basename(os.readlink(master)) == c.BRIDGE):
            out.append(dev.name)
    return sorted(out)


def delete_links() -> None:
    for name in links():
        if name != c.BRIDGE:
            subprocess.run(["ip", "link", "delete", name], capture_output=True)
    if Path(f"/sys/class/net/{c.BRIDGE}").exists():
        sh("ip", "link", "delete", c.BRIDGE)


def kube_cgroups() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    found: list[Path] = []
    for ctrl in root.iterdir() if root.is_dir() else []:
        kp = ctrl / "kubepods"
        if kp.is_dir():
            found.append(kp)
    return found


def cgroup_pids() -> list[int]:
    pids: set[int] = set()
    for kp in kube_cgroups():
        for procs in kp.rglob("cgroup.procs"):
            try:
                pids.update(int(x) for x in procs.read_text().split())
            except OSError:
                continue
    return sorted(pids)


def remove_cgroups() -> None:
    for kp in kube_cgroups():
        for d in sorted((x for x in kp.rglob("*") if x.is_dir()), key=lambda x: len(x.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            kp.rmdir()


def processes(p: c.Paths) -> list[str]:
    """Every process that belongs to the cluster: our daemons (by executable, so that somebody's kubectl
    or helm from the same cache is left alone), containerd and its shims (by our socket), pod processes."""
    daemons = {str(p.k8s_bin / name) for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                                   "kubelet", "kube-proxy", "hostpath-provisioner")}
    daemons.add(str(p.kube_router_bin))
    daemons.add(str(p.etcd_bin))
    marks = (str(p.conf / "containerd.toml"), str(p.containerd_sock))
    found = []
    pod_pids = set(cgroup_pids())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            exe = os.readlink(proc / "exe").removesuffix(" (deleted)")
        except OSError:
            continue
        if cmd and (int(proc.name) in pod_pids or exe in daemons or any(m in cmd for m in marks)):
            found.append(f"{proc.name} {cmd[:120]}")
    return found


def leftovers(p: c.Paths) -> dict[str, list[str]]:
    found = {
        "processes": processes(p),
        "mounts": our_mounts(p),
        "iptables": iptables_leftovers(),
        "ipsets": ipsets(),
        "links": links(),
        "netns": netns(),
        "cgroups": [str(x) for x in kube_cgroups()],
    }
    return {k: v for k, v in found.items() if v}
