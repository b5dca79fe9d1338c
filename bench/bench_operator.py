"""Operator benchmarks (results go to bench/README.md, section "Operator").

    PYTHONPATH=.:tests/cluster python bench/bench_operator.py scale [--projects 50 --sites 20]
        50 FLProjects x 20 sites against a real (private) kube-apiserver + etcd -- no kubelet, so no pod
        ever runs -- reconciled by a real `flarekube operator` process: per-project latency from create to
        "kits issued and every object applied" (p50/p99), and the operator's peak RSS.

The cluster numbers (FLProject apply -> SitesConnected for 4 sites; add a site -> its kit Secret) come
from the e2e tests on the local cluster, which print them: `pytest -s tests/e2e -k "ready or fourth"`.
`make bench-operator` runs it with the repo root (for tests.support.apiserver) and tests/cluster (for
clustertool) on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "flarekube"


def kubeconfig(port: int, token: str, dest: Path) -> Path:
    dest.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "bench", "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
    }))  # fmt: skip
    return dest


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scale(projects: int, sites: int, out: Path | None) -> dict[str, Any]:
    import urllib3
    from flarekube.kube import apply as k
    from kubernetes import client

    from tests.support.apiserver import BareApiServer, binaries

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # a private, self-signed API server
    work = Path(tempfile.mkdtemp(prefix="flarekube-bench-"))
    # Private copies: the local cluster's teardown stops every process started from its own binaries.
    (work / "bin").mkdir()
    apiserver_bin, etcd_bin = (Path(shutil.copy2(b, work / "bin" / b.name)) for b in binaries())
    server = BareApiServer(work)
    server.start(apiserver_bin, etcd_bin)
    operator: subprocess.Popen[bytes] | None = None
    try:
        server.wait_ready()
        api = server.api_client()
        ext = client.ApiextensionsV1Api(api)
        for crd in sorted((CHART / "crds").glob("*.yaml")):
            ext.create_custom_resource_definition(yaml.safe_load(crd.read_text()))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "bench"}})
        time.sleep(3)  # CRDs become servable
        env = dict(os.environ, KUBECONFIG=str(kubeconfig(server.port, server.token, work / "kubeconfig")))
        flarekube = Path(sys.executable).parent / "flarekube"
        log = open(work / "operator.log", "wb")  # noqa: SIM115 - closed with the process
        command = [str(flarekube), "operator", "-n", "bench", "--liveness", "", "--metrics-port", "0",
                   "--log-format", "plain"]  # fmt: skip
        operator = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(5)
        created: dict[str, float] = {}
        started = time.monotonic()
        spec = {"image": "flarekube/never-pulled:0",
                "sites": [{"name": f"site-{j}", "org": f"org{j}"} for j in range(sites)]}  # fmt: skip
        for i in range(projects):
            name = f"p{i:03d}"
            k.create(api, {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject",
                           "metadata": {"name": name, "namespace": "bench"}, "spec": spec})  # fmt: skip
            created[name] = time.monotonic()
        done: dict[str, float] = {}
        peak = 0.0
        deadline = time.monotonic() + 1800
        while len(done) < projects and time.monotonic() < deadline:
            for item in k.list_objects(api, "FLProject", "bench", ""):
                name = item["metadata"]["name"]
                conds = {c["type"]: c["status"] for c in (item.get("status") or {}).get("conditions", [])}
                if name not in done and conds.get("KitsIssued") == "True":
                    done[name] = time.monotonic() - created[name]
            peak = max(peak, rss_mib(operator.pid)[0])
            time.sleep(0.5)
        all_done = time.monotonic() - started
        # Steady state: every project polled every 5 s; give it a minute and sample memory and CPU.
        cpu0 = _cpu_seconds(operator.pid)
        time.sleep(60)
        steady_cpu = (_cpu_seconds(operator.pid) - cpu0) / 60
        current, hwm = rss_mib(operator.pid)
        deployments = len(k.list_objects(api, "Deployment", "bench", ""))
        secrets = len(k.list_objects(api, "Secret", "bench", "app.kubernetes.io/managed-by=flarekube-operator"))
        latencies = list(done.values())
        result = {
            "projects": projects, "sites_per_project": sites, "reconciled": len(done),
            "deployments": deployments, "kit_and_ca_secrets": secrets,
            "latency_p50_s": round(percentile(latencies, 0.5), 2) if latencies else None,
            "latency_p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
            "latency_mean_s": round(statistics.mean(latencies), 2) if latencies else None,
            "all_reconciled_s": round(all_done, 1),
            "operator_rss_mib_now": round(current, 1), "operator_rss_mib_peak": round(max(hwm, peak), 1),
            "operator_cpu_cores_steady": round(steady_cpu, 3), "cpus": os.cpu_count(),
        }  # fmt: skip
        if out:
            out.write_text(json.dumps(result, indent=1))
        return result
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
        server.stop()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scale")
    s.add_argument("--projects", type=int, default=50)
    s.add_argument("--sites", type=int, default=20)
    s.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    print(json.dumps(scale(args.projects, args.sites, args.out), indent=1))


if __name__ == "__main__":
    main()
