"""Issue 12: the NetworkPolicies the operator builds, ENFORCED by a real engine (kube-router's policy
controller on the local cluster), proven by real connection attempts.

The policies are the operator's own builders' output (builders/netpol.py) for two FLProjects in one
namespace; the pods are busybox listeners wearing the server/site labels the builders select on. Each
probe is `wget` with a short timeout: "open" when the listener answered, "closed" otherwise.
"""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from clustertool import config as cluster_config
from flarekube import naming
from flarekube.api import FLProject, parse_document
from flarekube.builders import netpol
from flarekube.builders.common import Owner
from flarekube.kube import apply as k
from kubernetes import client

from tests.support.cluster import TESTBOX_IMAGE, wait_for

pytestmark = pytest.mark.cluster

FL, ADMIN = 8002, 8003


def project(name: str) -> FLProject:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": name},
           "spec": {"server": {"flPort": FL, "adminPort": ADMIN},
                    "sites": [{"name": "site-1", "org": "a"}, {"name": "site-2", "org": "b"}],
                    "admins": [{"email": "a@example.org", "org": "a"}]}}  # fmt: skip
    parsed = parse_document(doc)
    assert isinstance(parsed, FLProject)
    return parsed


def listener(name: str, labels: dict[str, str], ports: list[int], root: bool = False) -> dict[str, Any]:
    """busybox httpd on each port; `root` only to bind port 53 (the rogue DNS server)."""
    serve = " & ".join(f"httpd -f -p {p} -h /tmp/www" for p in ports)
    sc: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if root:
        sc = {"runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    else:
        sc |= {"runAsNonRoot": True, "runAsUser": 65534}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{
                "name": "c", "image": TESTBOX_IMAGE, "imagePullPolicy": "IfNotPresent", "securityContext": sc,
                "command": ["sh", "-c", f"mkdir -p /tmp/www && echo {name} > /tmp/www/index.html && {serve} & wait"],
            }], "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}}  # fmt: skip


def start(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> str:
    core.create_namespaced_pod(namespace, pod)

    def ip() -> str | None:
        s = core.read_namespaced_pod(pod["metadata"]["name"], namespace).status
        return s.pod_ip if s is not None and s.phase == "Running" else None

    return str(wait_for(ip, 90, f"pod {namespace}/{pod['metadata']['name']} running"))


def http_get(target: str) -> str:
    return f"timeout 3 wget -qO- http://{target}/"


def probe(core: client.CoreV1Api, namespace: str, labels: dict[str, str], targets: dict[str, str]) -> dict[str, str]:
    """From a pod with `labels`: name -> "open" | "closed" for each target: host:port (HTTP), or a shell
    command whose success means open."""
    checks = {n: t if " " in t else http_get(t) for n, t in targets.items()}
    lines = [f'if {c} >/dev/null 2>&1; then echo "{n} open"; else echo "{n} closed"; fi' for n, c in checks.items()]
    name = f"probe-{uuid.uuid4().hex[:6]}"
    pod = listener(name, labels, [])
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"][0]["command"] = ["sh", "-c", "sleep 2; " + "; ".join(lines)]
    core.create_namespaced_pod(namespace, pod)

    def done() -> bool:
        s = core.read_namespaced_pod(name, namespace).status
        return s is not None and s.phase in ("Succeeded", "Failed")

    wait_for(done, 30 + 5 * len(targets), f"probe {name}")
    out = core.read_namespaced_pod_log(name, namespace)
    return dict(line.split(" ", 1) for line in out.split("\n") if " " in line)


@pytest.fixture
def node_listener() -> Iterator[str]:
    """An HTTP listener on the node's own address (what a site must not reach: the kubelet's neighbours)."""
    server = http.server.HTTPServer((cluster_config.NODE_IP, 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{cluster_config.NODE_IP}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def namespaces(kube: client.ApiClient) -> Iterator[tuple[str, str]]:
    core = client.CoreV1Api(kube)
    names = (f"np-{uuid.uuid4().hex[:6]}", f"np-{uuid.uuid4().hex[:6]}")
    for n in names:
        core.create_namespace({"metadata": {"name": n}})
        wait_for(lambda n=n: any(sa.metadata.name == "default"  # type: ignore[misc]
                                 for sa in core.list_namespaced_service_account(n).items), 30, "default SA")
    yield names
    for n in names:
        core.delete_namespace(n)
    try:
        core.delete_namespaced_pod("rogue-dns", "kube-system", grace_period_seconds=0)
    except client.ApiException as err:
        if err.status != 404:
            raise


def test_policies_are_enforced(kube: client.ApiClient, namespaces: tuple[str, str], node_listener: str) -> None:
    ns, other = namespaces
    core = client.CoreV1Api(kube)
    a, b = project("alpha"), project("beta")
    ips = {
        "server-a": start(core, ns, listener("server-a", naming.server_labels("alpha"), [FL, ADMIN])),
        "server-b": start(core, ns, listener("server-b", naming.server_labels("beta"), [FL])),
        "site-a2": start(core, ns, listener("site-a2", naming.site_labels("alpha", "site-2"), [8080])),
        "elsewhere": start(core, other, listener("elsewhere", {"app": "x"}, [8080])),
        "rogue-dns": start(core, "kube-system", listener("rogue-dns", {"app": "rogue"}, [53], root=True)),
    }
    site = naming.site_labels("alpha", "site-1")
    targets = {"own-server-fl": f"{ips['server-a']}:{FL}", "own-server-admin": f"{ips['server-a']}:{ADMIN}",
               "other-site": f"{ips['site-a2']}:8080", "other-project-server": f"{ips['server-b']}:{FL}",
               "other-namespace": f"{ips['elsewhere']}:8080", "node-local": node_listener,
               "rogue-dns": f"{ips['rogue-dns']}:53"}  # fmt: skip
    # Before any policy: everything is reachable (so "closed" below is the policy, not a dead listener).
    # A pod is Running before its httpd listens and before the engine has synced its address, so this
    # precondition is awaited (a few probes), not assumed. Not wait_for: its timeout cannot name what
    # stayed closed, and this assert does.
    all_open = dict.fromkeys(targets, "open")
    for _ in range(4):
        if (before := probe(core, ns, site, targets)) == all_open:
            break
    assert before == all_open

    owner = Owner("FLProject", "alpha", "uid-a", ns)
    objects = [netpol.default_deny(ns), netpol.server_policy(a, owner, None), netpol.site_policy(a, owner),
               netpol.server_policy(b, Owner("FLProject", "beta", "uid-b", ns), None)]
    for obj in objects:
        obj["metadata"].pop("ownerReferences", None)  # no FLProject object exists for them here
        k.apply(kube, obj)

    def enforced() -> dict[str, str] | None:
        seen = probe(core, ns, site, targets)
        return seen if seen.get("other-site") == "closed" else None

    seen = wait_for(enforced, 60, "kube-router to enforce the policies", interval=2)
    assert seen == {"own-server-fl": "open", "own-server-admin": "closed", "other-site": "closed",
                    "other-project-server": "closed", "other-namespace": "closed", "node-local": "closed",
                    "rogue-dns": "closed"}, seen  # fmt: skip
    # kube-dns still answers a site: the one DNS server it may use.
    lookup = f"timeout 5 nslookup kubernetes.default.svc.cluster.local {cluster_config.DNS_SERVICE_IP}"
    assert probe(core, ns, site, {"kube-dns": lookup}) == {"kube-dns": "open"}

    # The server sends nothing but replies: it cannot dial out, not even to its own sites.
    out = probe(core, ns, naming.server_labels("alpha"), {"site": f"{ips['site-a2']}:8080",
                                                          "other-namespace": f"{ips['elsewhere']}:8080"})
    assert out == {"site": "closed", "other-namespace": "closed"}
    # A pod in another namespace reaches the server only when its network is listed, and then only
    # the FL port.
    outsider = {"fl": f"{ips['server-a']}:{FL}", "admin": f"{ips['server-a']}:{ADMIN}"}
    assert probe(core, other, {"app": "outsider"}, outsider) == {"fl": "closed", "admin": "closed"}
    listed = netpol.server_policy(a, owner, None, allowed_cidrs=[cluster_config.POD_CIDR])
    listed["metadata"].pop("ownerReferences", None)
    k.apply(kube, listed)
    opened = wait_for(lambda: (r := probe(core, other, {"app": "outsider"}, outsider))["fl"] == "open" and r,
                      60, "the listed CIDR to be admitted", interval=2)
    assert opened == {"fl": "open", "admin": "closed"}


def test_node_listener_is_reachable_from_the_node(node_listener: str) -> None:
    """The node-local probe above means something: the listener itself works."""
    host, port = node_listener.split(":")
    with socket.create_connection((host, int(port)), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(12).startswith(b"HTTP/1.")
