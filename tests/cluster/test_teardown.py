"""`cluster-down` leaves nothing behind, checked with the system's own tools rather than the cluster
tool's bookkeeping; the cluster is then brought up again for whatever runs next.

Runs after test_cluster.py (pytest orders files by name) and only on the local cluster.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cluster import CLUSTER_DIR, bring_up, external_kubeconfig

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(external_kubeconfig() is not None, reason="only for the local cluster")]

STATE, RUN = "/var/lib/flarekube-cluster", "/run/flarekube-cluster"


def out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def leftovers() -> dict[str, list[str]]:
    # Zombies (state Z) are excluded: they hold nothing but a pid until this VM's init reaps them.
    procs = [line for line in out("ps", "-eo", "pid,stat,args").splitlines()
             if line.split()[1][0] != "Z"
             and any(m in line for m in ("/bin/kube-", "/bin/kubelet", "/bin/hostpath-provisioner",  # not kubectl
                                         "/kube-router/v",
                                         "/.cache/flarekube/etcd/", f"{RUN}/", "containerd-shim",
                                         "flarekube-cluster/conf/containerd.toml"))]
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if any(m in line for m in (STATE, RUN, "/run/netns/cni-"))]
    rules = [line for tool in ("iptables-save", "ip6tables-save") for line in out(tool).splitlines()
             if "KUBE-" in line or "CNI-" in line]
    links = [line for line in out("ip", "-o", "link", "show").splitlines() if "flarekube0" in line]
    netns = [ns for ns in out("ip", "netns", "list").split() if ns.startswith("cni-")]
    # kube-router's ipsets outlive its process and would keep stale pod IPs in the next cluster's rules.
    ipsets = [n for n in out("ipset", "list", "-n").split() if n.startswith("KUBE-")]
    cgroups = [ctrl for ctrl in ("memory", "cpu", "pids") if Path("/sys/fs/cgroup", ctrl, "kubepods").exists()]
    found = {"processes": procs, "mounts": mounts, "iptables": rules, "links": links, "netns": netns,
             "cgroups": cgroups, "ipsets": ipsets}
    return {k: v for k, v in found.items() if v}


def test_down_leaves_nothing_behind_and_up_recovers(cluster: Path) -> None:
    down = subprocess.run([sys.executable, "-m", "clustertool", "down"], cwd=CLUSTER_DIR,
                          capture_output=True, text=True, check=False)
    try:
        left = leftovers()
    finally:  # whatever was found, the next suite gets a cluster
        start = time.monotonic()
        assert bring_up().exists()
        print(f"warm cluster-up after down: {time.monotonic() - start:.1f} s")
    assert down.returncode == 0, down.stdout + down.stderr
    assert left == {}
