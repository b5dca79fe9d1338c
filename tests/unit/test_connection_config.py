"""Issue 10: ports are config, not identity. A port change re-renders the connection files NVFlare reads
(startup/fed_server.json, fed_client.json, fed_admin.json) and rolls the pods; no certificate, kit Secret
or ledger entry changes (real NVFlare provisioner, the cluster objects as the controller builds them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube import naming
from flarekube.api import FLProject, parse_document
from flarekube.builders import connection, localconfig, secrets
from flarekube.builders.connection import ConnectionRenderError, Ports, for_kit, render_connection
from flarekube.builders.project import Target, desired, rendered_config, target
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.cli import app
from flarekube.local.ports import free_port
from flarekube.provisioning import LocalKitStore, ensure_kits, load_state, materialize, plan
from flarekube.provisioning.codec import KIT_MANIFEST, decode_kit
from typer.testing import CliRunner

from tests.support.federation import project_doc

HOST = "crc-server.ns.svc.cluster.local"


def project(fl: int = 8002, admin: int = 8003) -> FLProject:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject", "metadata": {"name": "crc"},
           "spec": {"server": {"host": HOST, "flPort": fl, "adminPort": admin},
                    "sites": [{"name": "site-1", "org": "hospital_a"}, {"name": "site-2", "org": "hospital_b"}],
                    "admins": [{"email": "lead@hospital-a.org", "org": "hospital_a"}]}}  # fmt: skip
    p = parse_document(doc)
    assert isinstance(p, FLProject)
    return p


def cluster_target(p: FLProject) -> Target:
    body = {**p.model_dump(by_alias=True, exclude_none=True),
            "metadata": {"name": "crc", "namespace": "ns", "uid": "u1", "generation": 1}}  # fmt: skip
    return target(body)


def snapshot(root: Path) -> dict[str, bytes]:
    return {f.relative_to(root).as_posix(): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalKitStore:
    """The kits a cluster holds for project() on ports 8002/8003: server, two sites, the operator."""
    s = LocalKitStore(tmp_path_factory.mktemp("kits"))
    ensure_kits(provisioning_inputs(project(), HOST, humans=False), s)
    return s


def cluster_objects(store: LocalKitStore, p: FLProject) -> dict[tuple[str, str], dict[str, Any]]:
    """What controller/project.py's `build` step makes of the stored kits (and the kit Secrets it holds)."""
    t = cluster_target(p)
    blobs = {name: store.get_kit(name) for name in t.participants}
    local, conn = rendered_config(t, {name: decode_kit(b) for name, b in blobs.items()})
    objects = desired(t, {n: b[KIT_MANIFEST] for n, b in blobs.items()}, local, conn, None)
    objects += [secrets.kit_secret(t.name, n, decode_kit(b).kind, b, t.owner) for n, b in blobs.items()]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_a_port_change_re_issues_nothing_and_rolls_every_pod(store: LocalKitStore) -> None:
    before_store = snapshot(store.root)
    moved = project(9002, 9003)
    report = ensure_kits(provisioning_inputs(moved, HOST, humans=False), store)
    assert report.issued == () and report.removed == () and not report.ca_created
    assert set(report.reconfigured) == set(report.kept) == set(store.kit_names())
    assert snapshot(store.root) == before_store  # certificates, keys, kit manifests and the ledger

    old, new = cluster_objects(store, project()), cluster_objects(store, moved)
    assert old.keys() == new.keys()
    for key in old:
        kind, name = key
        if kind == "Secret":  # every kit Secret byte-identical: nothing re-issued
            assert old[key] == new[key], name
        elif kind == "ConfigMap" and old[key]["metadata"]["labels"][naming.LABEL_COMPONENT] == "local-config":
            assert old[key] == new[key], name  # the policy did not change
    t = cluster_target(moved)
    for participant, file in [(t.host, "fed_server.json"), ("site-1", "fed_client.json"),
                              ("site-2", "fed_client.json")]:  # fmt: skip
        cm = ("ConfigMap", naming.connection_config("crc", participant))
        assert list(new[cm]["data"]) == [file]
        assert old[cm]["data"] != new[cm]["data"]
        assert "9002" in new[cm]["data"][file] and "8002" not in new[cm]["data"][file]
    deployments = [key for key in old if key[0] == "Deployment"]
    assert len(deployments) == 3
    for key in deployments:
        a = old[key]["spec"]["template"]["metadata"]["annotations"]
        b = new[key]["spec"]["template"]["metadata"]["annotations"]
        assert a[naming.ANNOTATION_CONNECTION] != b[naming.ANNOTATION_CONNECTION], key  # the pod rolls
        assert a[naming.ANNOTATION_CERTIFICATE] == b[naming.ANNOTATION_CERTIFICATE]  # same certificate
        assert a[naming.ANNOTATION_LOCAL_CONFIG] == b[naming.ANNOTATION_LOCAL_CONFIG]
        volumes = {v["name"]: v for v in new[key]["spec"]["template"]["spec"]["volumes"]}
        assert volumes["connection"]["configMap"]["name"].startswith("crc-connection-")
        if key[1] != naming.server("crc", moved.spec.server.name):  # the server's ports follow the spec
            assert old[key]["spec"]["template"]["spec"] == new[key]["spec"]["template"]["spec"], key


def test_plan_says_config_re_rendered_nothing_re_issued(store: LocalKitStore) -> None:
    moved = provisioning_inputs(project(9102, 9102), HOST, humans=False)
    p = plan(moved, load_state(store))
    assert p.refusal is None and p.issue == () and p.changes_nothing
    assert {k.record.name for k in p.reconfigure} == set(store.kit_names())
    for k in p.reconfigure:
        assert k.reason.startswith("fl_port 8002 -> 9102, admin_port 8003 -> 9102")
        assert k.reason.endswith("config re-rendered, nothing re-issued")
    assert plan(provisioning_inputs(project(), HOST, humans=False), load_state(store)).reconfigure == ()


def test_the_renderer_sets_the_ports_keeps_the_host_and_is_deterministic(store: LocalKitStore) -> None:
    ports = Ports(9002, 9003)
    server = decode_kit(store.get_kit(HOST))
    site = decode_kit(store.get_kit("site-1"))
    operator = decode_kit(store.get_kit(project().operator_admin))
    fed_server = json.loads(render_connection(server.files, "server", ports)["startup/fed_server.json"])
    assert fed_server["servers"][0]["service"]["target"] == f"{HOST}:9002"
    assert fed_server["servers"][0]["admin_port"] == 9003
    fed_client = json.loads(render_connection(site.files, "client", ports)["startup/fed_client.json"])
    assert fed_client["servers"][0]["service"]["target"] == f"{HOST}:9002"
    assert fed_client["servers"][0]["identity"] == HOST  # the TLS identity the site expects: unchanged
    fed_admin = json.loads(render_connection(operator.files, "admin", ports)["startup/fed_admin.json"])
    assert fed_admin["admin"]["port"] == 9003 and fed_admin["admin"]["host"] == HOST
    # everything but the ports is the kit's own copy
    kit_client = json.loads(site.files["startup/fed_client.json"])
    kit_client["servers"][0]["service"]["target"] = f"{HOST}:9002"
    assert fed_client == kit_client
    # same kit and ports -> same bytes; the kit's own ports -> the kit's own content
    assert render_connection(site.files, "client", ports) == render_connection(site.files, "client", ports)
    same = render_connection(site.files, "client", Ports(8002, 8003))["startup/fed_client.json"]
    assert json.loads(same) == json.loads(site.files["startup/fed_client.json"])


def test_materialize_writes_the_rendered_file_over_the_kits_copy(store: LocalKitStore, tmp_path: Path) -> None:
    before = snapshot(store.root)
    dest = materialize(store, "site-1", tmp_path / "site-1", for_kit(Ports(9002, 9003)))
    written = json.loads((dest / "startup" / "fed_client.json").read_text())
    assert written["servers"][0]["service"]["target"] == f"{HOST}:9002"
    assert (dest / "startup" / "fed_client.json").stat().st_mode & 0o777 == 0o600
    kit = decode_kit(store.get_kit("site-1"))
    assert (dest / "startup" / "client.key").read_bytes() == kit.files["startup/client.key"]
    assert snapshot(store.root) == before  # the kit in the store is never touched


def test_the_pod_copies_the_connection_file_over_the_kits_copy() -> None:
    command = localconfig.start_from_kit_and_local("/workspace/site-1")
    kit_copy = command.index(f"cp -rL {secrets.KIT_MOUNT}/startup ")
    over = command.index(f"cp -fL {localconfig.CONNECTION_MOUNT}/* /workspace/site-1/kit/startup/")
    assert kit_copy < over < command.index("sub_start.sh --once")


@pytest.mark.parametrize(("files", "kind", "message"), [
    ({}, "client", "the kit has no startup/fed_client.json"),
    ({"startup/fed_client.json": b"not json"}, "client", "startup/fed_client.json in the kit is not valid JSON"),
    ({"startup/fed_client.json": b'{"servers": [{"service": {"target": "nohost"}}]}'}, "client", "host:port"),
    ({"startup/fed_server.json": b'{"servers": []}'}, "server", "startup/fed_server.json has no servers"),
    ({"startup/fed_admin.json": b'{"admin": {}}'}, "admin", "startup/fed_admin.json has no admin.port"),
    ({}, "relay", "kind 'relay'"),
])  # fmt: skip
def test_a_kit_that_is_not_nvflares_is_named(files: dict[str, bytes], kind: str, message: str) -> None:
    with pytest.raises(ConnectionRenderError, match=message):
        connection.render_connection(files, kind, Ports(1, 2))


def _cli(tmp_path: Path, doc: dict[str, Any], *args: str) -> tuple[int, str]:
    spec = tmp_path / "project.yaml"
    spec.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, [*args[:1], str(spec), *args[1:]],
                                env={"XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"})  # fmt: skip
    return result.exit_code, result.output


def test_plan_and_kits_report_a_port_change_as_config_only(tmp_path: Path) -> None:
    doc = project_doc("ports", 1)
    doc["spec"]["server"] = {"flPort": free_port(), "adminPort": free_port()}
    code, out = _cli(tmp_path, doc, "kits")
    assert code == 0, out
    state = tmp_path / "state" / "flarekube" / "ports"
    before = snapshot(state / "kits")
    doc["spec"]["server"] = {"flPort": free_port(), "adminPort": free_port()}

    code, out = _cli(tmp_path, doc, "plan", "-o", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["issue"] == [] and data["refused"] is None
    assert {r["participant"] for r in data["reconfigure"]} == set(data["keep"])
    assert all(r["reason"].endswith("config re-rendered, nothing re-issued") for r in data["reconfigure"])
    code, out = _cli(tmp_path, doc, "plan")
    assert code == 0 and "~ config" in out and "nothing re-issued" in out and "+ issue" not in out, out

    code, out = _cli(tmp_path, doc, "kits")
    assert code == 0 and "config re-rendered, nothing re-issued" in out, out
    assert out.count("kept, config re-rendered (ports)") == 4 and not re.search(r"│\s*issued\s*│", out), out
    assert snapshot(state / "kits") == before  # certificates, keys and the ledger
    assert json.loads((state / "ports.json").read_text())["fl"] == doc["spec"]["server"]["flPort"]
