"""Kill the operator at every fault point while it provisions a project: it converges, nothing regenerated.

The operator runs here as a local process (`flarekube operator -n NS` with the cluster's kubeconfig) so
that a kill is followed by an immediate restart (in a pod, kubelet's crash back-off would add minutes).
FLAREKUBE_FAULT_POINT lists every point; each run dies at the next one not hit yet (markers in a folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from flarekube import naming
from flarekube.faults import POINTS
from flarekube.kube import apply as k
from kubernetes import client

from tests.support.cluster import wait_for
from tests.support.e2e import install_crds, restricted_namespace

pytestmark = pytest.mark.cluster
FLAREKUBE = Path(sys.executable).parent / "flarekube"
PROVISIONING_POINTS = [p for p in POINTS if p != "after-submit"]


def secrets(kube: client.ApiClient, ns: str) -> dict[str, tuple[str, str, dict]]:
    items = k.list_objects(kube, "Secret", ns, naming.selector(naming.project_labels("crc")))
    # Not the certificate ledger: a record that changes with every issuance by design (identity is CA + kits).
    return {s["metadata"]["name"]: (s["metadata"]["uid"], s["metadata"]["resourceVersion"], s["data"]) for s in items
            if s["metadata"]["name"] != naming.ledger_secret("crc")}  # fmt: skip


def test_operator_killed_at_every_point_converges(kube: client.ApiClient, cluster: Path, tmp_path: Path) -> None:
    install_crds(kube)
    ns = f"crash-{uuid.uuid4().hex[:6]}"
    restricted_namespace(kube, ns)
    k.create(kube, {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject",
                    "metadata": {"name": "crc", "namespace": ns},
                    "spec": {"sites": [{"name": f"site-{i}", "org": f"org{i}"} for i in (1, 2, 3)]}})  # fmt: skip
    env = dict(os.environ, KUBECONFIG=str(cluster), FLAREKUBE_FAULT_POINT=",".join(PROVISIONING_POINTS),
               FLAREKUBE_FAULT_MARKER_DIR=str(tmp_path))  # fmt: skip
    command = [str(FLAREKUBE), "operator", "-n", ns, "--liveness", "", "--metrics-port", "0", "--log-format", "plain"]
    exits, first_ca = [], None
    log = tmp_path / "operator.log"
    try:
        for _ in range(len(PROVISIONING_POINTS) + 1):
            with open(log, "ab") as out:
                proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                exits.append(proc.wait(timeout=40))
            except subprocess.TimeoutExpired:
                break  # it stayed up: every point has been hit
            if first_ca is None:
                first_ca = secrets(kube, ns).get(naming.ca_secret("crc"))
        hit = sorted(p.name.removeprefix("flarekube-fault-") for p in tmp_path.glob("flarekube-fault-*"))
        assert exits.count(17) >= 5 and hit == sorted(PROVISIONING_POINTS), (exits, hit, log.read_text()[-3000:])

        def converged() -> bool:
            st = (k.get(kube, "FLProject", ns, "crc") or {}).get("status") or {}
            kits = {c["type"]: c["status"] for c in st.get("conditions", [])}.get("KitsIssued")
            deployments = k.list_objects(kube, "Deployment", ns, naming.selector(naming.project_labels("crc")))
            return kits == "True" and len(deployments) == 4

        wait_for(converged, 60, "project converged after the kills", 1)
        final = secrets(kube, ns)
        assert len(final) == 6
        assert first_ca is not None and final[naming.ca_secret("crc")] == first_ca, "the root CA was regenerated"
        ca_pem = first_ca[2]["rootCA.pem"]
        assert all(data["startup.rootCA.pem"] == ca_pem for name, (_, _, data) in final.items()
                   if name != naming.ca_secret("crc"))  # fmt: skip
        print(f"\n[e2e] operator killed {exits.count(17)} times at {hit}; converged, CA and kits kept")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        # No operator is left to run the delete handler: lift the finalizers, then drop the namespace.
        for name in ("crc",):
            k.merge_patch(kube, "FLProject", ns, name, {"metadata": {"finalizers": None}})
        k.merge_patch(kube, "Secret", ns, naming.ca_secret("crc"), {"metadata": {"finalizers": None}})
        client.CoreV1Api(kube).delete_namespace(ns)
        time.sleep(0.1)
