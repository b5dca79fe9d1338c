"""FLProject -> a running federation; FLJob -> a finished training run; on the real local cluster.

One federation for the whole module (starting NVFlare pods is the slow part); the tests run in order
and each leaves it as the next expects. Timings are printed (pytest -s) and feed bench/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flarekube import naming
from flarekube.kube import apply as k
from kubernetes import client

from tests.support.cluster import wait_for
from tests.support.e2e import REPO, operator_logs

pytestmark = pytest.mark.cluster
KUBECTL = Path.home() / ".cache/flarekube/k8s/v1.35.4/bin/kubectl"


def site(i: int) -> dict[str, Any]:
    return {"name": f"site-{i}", "org": f"hospital_{i}", "data": {"pvc": {"claimName": "crc-data"}},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}  # fmt: skip


def job(name: str, rounds: int, **spec: Any) -> dict[str, Any]:
    body = {"projectRef": "crc", "workload": {"kind": "clinical-tabular"}, "rounds": rounds, "minSites": 3,
            "faultTolerance": {"minResponses": 2, "roundTimeoutSeconds": 15}, "timeoutSeconds": 900}  # fmt: skip
    body.update(spec)
    return {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": name}, "spec": body}


def status(kube: client.ApiClient, kind: str, ns: str, name: str) -> dict[str, Any]:
    return dict((k.get(kube, kind, ns, name) or {}).get("status") or {})


def wait_status(kube: client.ApiClient, kind: str, ns: str, name: str, check: Any, timeout: float, what: str) -> dict:
    try:
        return wait_for(lambda: (lambda s: s if check(s) else None)(status(kube, kind, ns, name)), timeout, what, 2)
    except AssertionError:
        print(operator_logs(kube)[-4000:])
        print("status:", status(kube, kind, ns, name))
        raise


def kit_secrets(kube: client.ApiClient, ns: str) -> dict[str, tuple[str, Any]]:
    items = k.list_objects(kube, "Secret", ns, naming.selector(naming.project_labels("crc")))
    # The certificate ledger beside the CA is a record that changes with every issuance by design: the
    # identity Secrets (CA and kits) are what must stay byte-identical.
    return {s["metadata"]["name"]: (s["metadata"]["resourceVersion"], s["data"]) for s in items
            if s["metadata"]["name"] != naming.ledger_secret("crc")}  # fmt: skip


def kubectl(cluster: Path, *args: str) -> str:
    return subprocess.run([str(KUBECTL), f"--kubeconfig={cluster}", *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def test_project_with_3_sites_becomes_ready(kube: client.ApiClient, cluster: Path, operator: str, fed_ns: str) -> None:
    started = time.monotonic()
    k.create(kube, {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject",
                    "metadata": {"name": "crc", "namespace": fed_ns},
                    "spec": {"sites": [site(1), site(2), site(3)]}})  # fmt: skip
    st = wait_status(kube, "FLProject", fed_ns, "crc", lambda s: s.get("phase") == "Ready", 300, "FLProject Ready")
    print(f"\n[e2e] FLProject apply -> Ready (3 sites connected): {time.monotonic() - started:.1f} s")
    assert st["sitesSummary"] == "3/3" and st["observedGeneration"] == 1
    out = kubectl(cluster, "get", "flp", "-n", fed_ns)
    assert "3/3" in out and "Ready" in out, out
    assert {s["name"]: s["connected"] for s in st["sites"]} == {"site-1": True, "site-2": True, "site-3": True}


def test_tabular_job_succeeds_and_its_model_is_retrievable(kube: client.ApiClient, cluster: Path, fed_ns: str,
                                                           tmp_path: Path) -> None:  # fmt: skip
    started = time.monotonic()
    k.create(kube, {**job("tab", 3), "metadata": {"name": "tab", "namespace": fed_ns}})
    st = wait_status(kube, "FLJob", fed_ns, "tab", lambda s: s.get("phase") in ("Succeeded", "Failed", "Aborted"),
                     420, "FLJob finished")  # fmt: skip
    took = time.monotonic() - started
    print(f"\n[e2e] FLJob tabular 3 rounds -> {st['phase']}: {took:.1f} s, metric {st.get('metric')}")
    assert st["phase"] == "Succeeded" and st["roundSummary"] == "3/3"
    assert st.get("metric"), "the latest global validation AUC is in status"
    # Which policy each site applied: the digest of the local/ its pod runs with, and nobody refused.
    applied = {s["name"]: s for s in st.get("sites") or []}
    assert set(applied) == {"site-1", "site-2", "site-3"}, st.get("sites")
    assert all(len(s.get("policy") or "") >= 16 and not s.get("refused") for s in applied.values()), applied
    out = kubectl(cluster, "get", "flj", "-n", fed_ns)
    assert "3/3" in out and "Succeeded" in out, out
    env = dict(os.environ, KUBECONFIG=str(cluster))
    flarekube = str(Path(sys.executable).parent / "flarekube")
    subprocess.run([flarekube, "results", "tab", "-n", fed_ns, "--out", str(tmp_path)], check=True, env=env, cwd=REPO)
    import torch

    model = torch.load(tmp_path / "global_model.pt", map_location="cpu", weights_only=False)
    assert model, "the global model has weights"


def test_operator_metrics_are_scraped_from_its_pod(kube: client.ApiClient, operator: str, fed_ns: str) -> None:
    """What Prometheus would scrape: the real /metrics endpoint of the operator pod, parsed by
    prometheus-client's own parser. Gauges are set from observed status, so they match the CRs."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    pods = client.CoreV1Api(kube).list_namespaced_pod(
        operator, label_selector="app.kubernetes.io/component=operator", field_selector="status.phase=Running"
    ).items
    assert pods, "the operator pod runs"
    url = f"http://{pods[0].status.pod_ip}:9090/metrics"

    def sample(name: str, **labels: str) -> float | None:
        with urlopen(url, timeout=5) as response:  # a pod on this machine's own bridge
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None

    wait_for(lambda: sample("flarekube_sites_connected", project="crc", namespace=fed_ns) == 3, 30, "sites gauge")
    assert sample("flarekube_sites_total", project="crc", namespace=fed_ns) == 3
    assert sample("flarekube_project_ready", project="crc", namespace=fed_ns) == 1
    assert sample("flarekube_job_round", job="tab", project="crc") == 3
    assert sample("flarekube_job_phase", job="tab", project="crc", phase="Succeeded") == 1
    assert sample("flarekube_job_phase", job="tab", project="crc", phase="Failed") == 0
    assert (sample("flarekube_reconcile_seconds_count", kind="FLProject") or 0) > 0


def test_a_site_pod_deleted_mid_round_does_not_stop_the_job(kube: client.ApiClient, fed_ns: str) -> None:
    k.create(kube, {**job("ft", 6, workload={"kind": "clinical-tabular", "localEpochs": 4}),
                    "metadata": {"name": "ft", "namespace": fed_ns}})  # fmt: skip
    wait_status(kube, "FLJob", fed_ns, "ft", lambda s: s.get("phase") == "Running" and int(s.get("round") or 0) >= 1,
                300, "FLJob ft past round 1")  # fmt: skip
    core = client.CoreV1Api(kube)
    pods = core.list_namespaced_pod(fed_ns, label_selector=f"{naming.LABEL_SITE}=site-2").items
    assert pods
    killed_at = time.monotonic()
    core.delete_namespaced_pod(pods[0].metadata.name, fed_ns, grace_period_seconds=0)
    st = wait_status(kube, "FLJob", fed_ns, "ft", lambda s: s.get("phase") in ("Succeeded", "Failed", "Aborted"),
                     420, "FLJob ft finished after losing site-2")  # fmt: skip
    complete = next(c for c in st["conditions"] if c["type"] == "Complete")
    print(f"\n[e2e] site-2 pod deleted mid-job -> {st['phase']} {st.get('roundSummary')} "
          f"{time.monotonic() - killed_at:.1f} s later ({complete['reason']}: {complete['message']})")  # fmt: skip
    assert st["phase"] == "Succeeded" and st["roundSummary"] == "6/6"
    wait_status(kube, "FLProject", fed_ns, "crc", lambda s: s.get("sitesSummary") == "3/3", 180, "site-2 back")


def test_a_fourth_site_adds_exactly_one_kit_secret(kube: client.ApiClient, fed_ns: str) -> None:
    before = kit_secrets(kube, fed_ns)
    started = time.monotonic()
    k.merge_patch(kube, "FLProject", fed_ns, "crc", {"spec": {"sites": [site(1), site(2), site(3), site(4)]}})
    new = naming.kit_secret("crc", "site-4")
    wait_for(lambda: new in kit_secrets(kube, fed_ns), 60, "site-4 kit Secret", 0.2)
    print(f"\n[e2e] add a site -> its kit Secret exists: {time.monotonic() - started:.2f} s")
    after = kit_secrets(kube, fed_ns)
    assert set(after) - set(before) == {new}
    assert {n: after[n] for n in before} == before, "another kit Secret changed (bytes or resourceVersion)"
    st = wait_status(kube, "FLProject", fed_ns, "crc", lambda s: s.get("sitesSummary") == "4/4", 240, "4/4")
    print(f"[e2e] add a site -> 4/4 connected: {time.monotonic() - started:.1f} s")
    assert st["phase"] == "Ready"


def test_deleting_a_running_job_aborts_it_in_nvflare(kube: client.ApiClient, fed_ns: str) -> None:
    k.create(kube, {**job("long", 50, workload={"kind": "clinical-tabular", "localEpochs": 4}),
                    "metadata": {"name": "long", "namespace": fed_ns}})  # fmt: skip
    st = wait_status(kube, "FLJob", fed_ns, "long", lambda s: s.get("phase") == "Running", 240, "FLJob long Running")
    job_id = st["jobId"]
    k.delete(kube, "FLJob", fed_ns, "long")
    wait_for(lambda: k.get(kube, "FLJob", fed_ns, "long") is None, 90, "FLJob long gone (finalizer released)")
    core = client.CoreV1Api(kube)
    server = core.list_namespaced_pod(fed_ns, label_selector=f"{naming.LABEL_COMPONENT}=server").items[0]
    from kubernetes.stream import stream

    def nvflare_status() -> str | None:
        out = stream(core.connect_get_namespaced_pod_exec, server.metadata.name, fed_ns, container="server",
                     command=["cat", f"/var/lib/flarekube/nvflare/jobs-storage/{job_id}/meta"], stderr=True,
                     stdin=False, stdout=True, tty=False)  # fmt: skip
        return "FINISHED:ABORTED" if "FINISHED:ABORTED" in str(out) else None

    wait_for(nvflare_status, 90, f"NVFlare job {job_id} aborted", 2)
