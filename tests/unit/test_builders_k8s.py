"""Pure builders: FLProject -> Kubernetes objects (dicts), checked field by field."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from flarekube import naming
from flarekube.api import FLProject, parse_document
from flarekube.builders import netpol, secrets, server, site
from flarekube.builders.common import Owner

OWNER = Owner("FLProject", "crc", "uid-1", "fl")
LOCAL = {"authorization.json": b"{}\n", "resources.json": b"{}\n"}
CONNECTION = {"startup/fed_client.json": b"{}\n"}
MANIFEST = json.dumps({
    "format": 1,
    "files": [
        {"key": "startup.sub_start.sh", "path": "startup/sub_start.sh", "exec": True},
        {"key": "startup.rootCA.pem", "path": "startup/rootCA.pem", "exec": False},
    ],
}).encode()  # fmt: skip


def project(**spec: object) -> FLProject:
    base: dict[str, object] = {
        "sites": [
            {"name": "site-1", "org": "a", "data": {"hostPath": {"path": "/srv/crc"}}},
            {"name": "site-2", "org": "b", "data": {"pvc": {"claimName": "crc-data", "subPath": "two"}}},
            {"name": "site-3", "org": "c", "gpus": 2, "nodeSelector": {"gpu": "a100"},
             "resources": {"limits": {"memory": "4Gi"}}},
        ]
    }  # fmt: skip
    base.update(spec)
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": "crc"}, "spec": base}
    parsed = parse_document(doc)
    assert isinstance(parsed, FLProject)
    return parsed


def restricted(pod: dict) -> None:
    """Pod Security `restricted` plus readOnlyRootFilesystem, checked the way the admission plugin reads it."""
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])  # scratch on an emptyDir
    assert not any("hostPath" in v for v in pod["volumes"] if v["name"] != "data")
    keys_on_memory(pod)


def keys_on_memory(pod: dict) -> None:
    """Issue 12: every emptyDir is sized; the kit's working copy (its private key) is on tmpfs only, and
    NVFlare is not told a workspace into which its start script would copy the kit (keys on disk)."""
    empties = {v["name"]: v["emptyDir"] for v in pod["volumes"] if "emptyDir" in v}
    assert all(e.get("sizeLimit") for e in empties.values()), empties
    assert empties["workspace"]["medium"] == "Memory"
    (c,) = pod["containers"]
    paths = [m["mountPath"] for m in c["volumeMounts"]]
    assert len(paths) == len(set(paths)), f"a mount path twice: {paths}"  # the API server refuses that
    (root,) = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "workspace"]
    assert not [e for e in c["env"] if e["name"] == "NVFL_WORKSPACE"]
    start = c["command"][-1]
    copies = re.findall(r"cp -[rf]?L (\S+) (\S+)", start)
    assert len(copies) == 3 and all(dst.startswith(root + "/") and "/kit/" in dst for _, dst in copies), copies
    ws = copies[0][1].split("/kit/")[0]
    assert f"ln -s {ws}/kit/startup {ws}/startup" in start and f"exec bash {ws}/startup/sub_start.sh" in start


def test_names_are_dns_labels_and_stable() -> None:
    long = "x" * 60
    for name in (naming.kit_secret("crc", "admin@hospital-a.org"), naming.site(long, "site-1"),
                 naming.server_pvc(long)):  # fmt: skip
        assert len(name) <= 63 and name == name.lower() and not name.startswith("-") and not name.endswith("-")
        assert all(c.isalnum() or c == "-" for c in name)
    assert naming.kit_secret("crc", "admin@hospital-a.org") == naming.kit_secret("crc", "admin@hospital-a.org")
    assert naming.kit_secret("crc", "admin@a.org") != naming.kit_secret("crc", "admin-a-org")  # no collision
    assert naming.kit_secret("crc", "site-1") == "crc-kit-site-1"
    assert naming.server_host("crc", "fl") == "crc-server.fl.svc.cluster.local"


def test_server_is_one_recreated_replica_with_a_workspace_pvc() -> None:
    p = project()
    dep = server.server_deployment(p, OWNER, MANIFEST, naming.server_host("crc", "fl"), LOCAL, CONNECTION)
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    pod = dep["spec"]["template"]["spec"]
    restricted(pod)
    claim = next(v for v in pod["volumes"] if v["name"] == "state")["persistentVolumeClaim"]["claimName"]
    assert claim == server.server_pvc(p, OWNER)["metadata"]["name"] == "crc-server-workspace"
    c = pod["containers"][0]
    assert {"name": "kit", "mountPath": "/kit", "readOnly": True} in c["volumeMounts"]
    assert server.WORKSPACE.startswith("/workspace/") and "/var/lib/flarekube" not in server.WORKSPACE
    assert "/tmp/nvflare" in c["command"][-1]  # NVFlare's job store lands on the PVC
    svc = server.server_service(p, OWNER)
    assert [pt["port"] for pt in svc["spec"]["ports"]] == [8002, 8003]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_single_port_server_exposes_one_port() -> None:
    p = project(server={"flPort": 8002, "adminPort": 8002})
    assert len(server.server_service(p, OWNER)["spec"]["ports"]) == 1


def test_kit_secret_is_immutable_labelled_and_owned() -> None:
    blobs = {"kit.json": json.dumps({"fingerprint": "abc"}).encode(), "startup.rootCA.pem": b"PEM"}
    s = secrets.kit_secret("crc", "admin@a.org", "admin", blobs, OWNER)
    assert s["immutable"] is True
    assert s["metadata"]["annotations"][naming.ANNOTATION_PARTICIPANT] == "admin@a.org"
    assert s["metadata"]["labels"][naming.LABEL_COMPONENT] == "kit"
    assert base64.b64decode(s["data"]["startup.rootCA.pem"]) == b"PEM"
    ca = secrets.ca_secret("crc", {"rootCA.pem": b"x"}, OWNER)
    assert ca["metadata"]["finalizers"] == [naming.CA_FINALIZER] and ca["immutable"] is True


def test_kit_volume_recreates_the_tree_read_only() -> None:
    vol = secrets.kit_volume("crc", "site-1", MANIFEST)
    items = {i["path"]: i for i in vol["secret"]["items"]}
    assert items["startup/sub_start.sh"]["mode"] == secrets.EXEC_MODE
    assert items["startup/rootCA.pem"]["mode"] == secrets.FILE_MODE
    assert vol["secret"]["secretName"] == "crc-kit-site-1"


@pytest.mark.parametrize("index,kind", [(0, "hostPath"), (1, "persistentVolumeClaim"), (2, None)])
def test_site_data_volume_from_spec(index: int, kind: str | None) -> None:
    p = project()
    dep = site.site_deployment(p, p.spec.sites[index], OWNER, MANIFEST, LOCAL, CONNECTION)
    pod = dep["spec"]["template"]["spec"]
    data = [v for v in pod["volumes"] if v["name"] == "data"]
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data"]
    if kind is None:
        assert not data and not mounts
        return
    assert kind in data[0] and mounts[0]["readOnly"] is True and mounts[0]["mountPath"] == "/data"
    if kind == "persistentVolumeClaim":
        assert data[0][kind] == {"claimName": "crc-data", "readOnly": True} and mounts[0]["subPath"] == "two"


def test_gpu_site_asks_for_gpus_and_tolerates_gpu_nodes() -> None:
    p = project()
    pod = site.site_deployment(p, p.spec.sites[2], OWNER, MANIFEST, LOCAL, CONNECTION)["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"memory": "4Gi", "nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    cpu_pod = site.site_deployment(p, p.spec.sites[1], OWNER, MANIFEST, LOCAL, CONNECTION)["spec"]["template"]["spec"]
    assert "tolerations" not in cpu_pod and "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"]


def test_every_site_is_restricted_and_recreated() -> None:
    p = project()
    for s in p.spec.sites:
        dep = site.site_deployment(p, s, OWNER, MANIFEST, LOCAL, CONNECTION)
        assert dep["spec"]["strategy"] == {"type": "Recreate"}
        pod = dep["spec"]["template"]["spec"]
        pod = {**pod, "volumes": [v for v in pod["volumes"] if v["name"] != "data"]}
        restricted(pod)
        assert dep["metadata"]["labels"][naming.LABEL_SITE] == s.name


def test_server_policy_admits_sites_on_fl_port_and_operator_on_admin_port() -> None:
    p = project()
    pol = netpol.server_policy(p, OWNER, "flarekube-system", ["10.0.0.0/8"])
    fl, admin, cidr = pol["spec"]["ingress"]
    assert fl["ports"] == [{"protocol": "TCP", "port": 8002}]
    assert fl["from"][0]["podSelector"]["matchLabels"][naming.LABEL_COMPONENT] == "site"
    assert admin["ports"] == [{"protocol": "TCP", "port": 8003}]
    assert admin["from"][0]["namespaceSelector"]["matchLabels"] == {netpol.NAMESPACE_NAME: "flarekube-system"}
    assert cidr["from"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    assert cidr["ports"] == [{"protocol": "TCP", "port": 8002}], "listed networks never reach the admin port"
    assert set(pol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (dns,) = pol["spec"]["egress"]  # the server sends nothing but replies, and asks kube-dns
    assert dns["to"] == [netpol.KUBE_DNS]


def test_every_managed_namespace_denies_by_default_and_outlives_a_project() -> None:
    deny = netpol.default_deny("fl")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert "ownerReferences" not in deny["metadata"] and deny["metadata"]["namespace"] == "fl"


def test_server_policy_takes_the_specs_external_networks() -> None:
    p = project(server={"allowedCidrs": ["203.0.113.0/24"]})
    *_, external = netpol.server_policy(p, OWNER, "flarekube-system")["spec"]["ingress"]
    assert external == {"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [
        {"protocol": "TCP", "port": 8002}]}  # fmt: skip
    assert len(netpol.server_policy(project(), OWNER, None)["spec"]["ingress"]) == 2


def test_site_policy_allows_only_server_and_dns() -> None:
    pol = netpol.site_policy(project(), OWNER)
    assert pol["spec"]["ingress"] == [] and set(pol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    to_server, dns = pol["spec"]["egress"]
    assert to_server["ports"] == [{"protocol": "TCP", "port": 8002}]
    assert {p["port"] for p in dns["ports"]} == {53, "dns", "dns-tcp"}
    assert dns["to"] == [netpol.KUBE_DNS], "DNS on the kube-dns pods only, not any kube-system pod"


def test_local_config_is_a_configmap_apart_from_the_kit_and_rolls_the_pod() -> None:
    """Issue 10: the site's rendered local/ lives in its own ConfigMap; the kit Secret volume is unchanged and
    a different local/ changes only the ConfigMap and the pod template's digest annotation."""
    from flarekube.builders import localconfig

    p = project()
    one = site.site_deployment(p, p.spec.sites[0], OWNER, MANIFEST, LOCAL, CONNECTION)
    other = {**LOCAL, "authorization.json": b'{"changed": true}\n'}
    two = site.site_deployment(p, p.spec.sites[0], OWNER, MANIFEST, other, CONNECTION)
    pod1, pod2 = one["spec"]["template"], two["spec"]["template"]
    assert pod1["metadata"]["annotations"] != pod2["metadata"]["annotations"]
    assert pod1["spec"] == pod2["spec"]  # same volumes: the kit Secret and the ConfigMap by name
    volumes = {v["name"]: v for v in pod1["spec"]["volumes"]}
    assert volumes["local"]["configMap"]["name"] == naming.local_config("crc", p.spec.sites[0].name)
    assert "secret" in volumes["kit"]
    command = pod1["spec"]["containers"][0]["command"][-1]
    assert f"cp -L {localconfig.LOCAL_MOUNT}/* " in command and command.endswith("sub_start.sh --once")
    cm = localconfig.local_configmap("crc", "site-1", "client", LOCAL, OWNER)
    assert cm["kind"] == "ConfigMap" and cm["data"] == {k: v.decode() for k, v in LOCAL.items()}
    assert cm["metadata"]["annotations"][naming.ANNOTATION_LOCAL_CONFIG] == \
        pod1["metadata"]["annotations"][naming.ANNOTATION_LOCAL_CONFIG]


def test_pods_get_default_requests_and_limits_unless_the_spec_says() -> None:
    p = project()
    plain = site.site_deployment(p, p.spec.sites[0], OWNER, MANIFEST, LOCAL, CONNECTION)["spec"]["template"]["spec"]
    (c,) = plain["containers"]
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    given = site.site_deployment(p, p.spec.sites[2], OWNER, MANIFEST, LOCAL, CONNECTION)["spec"]["template"]["spec"]
    assert given["containers"][0]["resources"]["limits"]["memory"] == "4Gi"  # the spec's own, kept
    srv_pod = server.server_deployment(p, OWNER, MANIFEST, "h", LOCAL, CONNECTION)["spec"]["template"]["spec"]
    srv = srv_pod["containers"][0]
    assert srv["resources"]["limits"]["memory"]


def test_server_and_site_pods_expose_the_federation_metrics_port_the_podmonitor_scrapes() -> None:
    import yaml
    from flarekube_workloads.contract import FEDERATION_METRICS_PORT, FEDERATION_METRICS_PORT_NAME

    p = project()
    dep = server.server_deployment(p, OWNER, MANIFEST, naming.server_host("crc", "fl"), LOCAL, CONNECTION)
    pods = [dep["spec"]["template"]["spec"]]
    single = server.server_deployment(project(server={"flPort": 8002, "adminPort": 8002}), OWNER, MANIFEST,
                                      naming.server_host("crc", "fl"), LOCAL, CONNECTION)  # fmt: skip
    assert [pt["name"] for pt in single["spec"]["template"]["spec"]["containers"][0]["ports"]] == ["fl", "fl-metrics"]
    pods += [site.site_deployment(p, s, OWNER, MANIFEST, LOCAL, CONNECTION)["spec"]["template"]["spec"]
             for s in p.spec.sites]
    for pod in pods:
        ports = {pt["name"]: pt["containerPort"] for pt in pod["containers"][0]["ports"]}
        assert ports[FEDERATION_METRICS_PORT_NAME] == FEDERATION_METRICS_PORT
    chart = (Path(__file__).resolve().parents[2] / "charts" / "flarekube" / "templates" / "podmonitor.yaml").read_text()
    assert f"port: {FEDERATION_METRICS_PORT_NAME}" in chart
    labels = {**naming.server_labels("crc"), **naming.site_labels("crc", "site-1")}
    component = yaml.safe_load(chart.split("matchExpressions:")[1].split("namespaceSelector")[0])[0]
    assert component["key"] == naming.LABEL_COMPONENT and labels[naming.LABEL_COMPONENT] in component["values"]
    assert set(component["values"]) == {naming.COMPONENT_SERVER, naming.COMPONENT_SITE}


def test_the_monitoring_namespace_may_scrape_the_metrics_port_and_nothing_else() -> None:
    p = project()
    srv = netpol.server_policy(p, OWNER, "flarekube-system", monitoring_namespace="monitoring")["spec"]["ingress"]
    sites = netpol.site_policy(p, OWNER, "monitoring")["spec"]["ingress"]
    for rules in (srv, sites):
        (scrape,) = [r for r in rules if r["from"][0].get("namespaceSelector", {}).get("matchLabels", {}).get(
            netpol.NAMESPACE_NAME) == "monitoring"]
        assert scrape["ports"] == [{"protocol": "TCP", "port": "fl-metrics"}]
    assert netpol.site_policy(p, OWNER)["spec"]["ingress"] == []
