"""The `cluster` fixture and helpers for every test that needs a real Kubernetes cluster.

The fixtures are loaded for every test by `pytest_plugins` in tests/conftest.py; helpers are imported
as `from tests.support.cluster import wait_for, ...`::

    @pytest.mark.cluster
    def test_something(cluster: Path, kube: ApiClient) -> None: ...

`cluster` (session scope) yields the path of a working kubeconfig:
- with FLAREKUBE_KUBECONFIG set (kind or any cluster; `make e2e-kind` sets it), that file as it is;
- otherwise the local cluster of tests/cluster, brought up once per run with `python -m clustertool up`
  (a healthy running cluster is reused in seconds) and left running: CI tears it down at the end.
`kube` yields a kubernetes.client.ApiClient for it; `tool("helm")` / `tool("kubectl")` give the binaries
built by `make cluster-build` (run them with `--kubeconfig`). Test pods use TESTBOX_IMAGE (busybox, built locally;
on another cluster load it first, see `make e2e-kind`), always with imagePullPolicy IfNotPresent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clustertool import config as cluster_config  # the one definition of names and paths (tests/cluster)
from kubernetes import client, config

CLUSTER_DIR = Path(__file__).resolve().parents[1] / "cluster"
REPO = CLUSTER_DIR.parents[1]

TESTBOX_IMAGE = cluster_config.TESTBOX_IMAGE


def tool(name: str) -> str:
    """Path of `helm` or `kubectl` as built by `make cluster-build` (falls back to PATH, e.g. on kind)."""
    paths = cluster_config.default_paths()
    path = {"helm": paths.helm_bin, "kubectl": paths.kubectl()}.get(name)
    return str(path) if path is not None and path.exists() else name


def external_kubeconfig() -> Path | None:
    value = os.environ.get("FLAREKUBE_KUBECONFIG")
    return Path(value) if value else None


def bring_up() -> Path:
    """Starts (or reuses) the local cluster; its own messages name what is missing or what died."""
    proc = subprocess.run([sys.executable, "-m", "clustertool", "up"], cwd=CLUSTER_DIR, check=False)
    if proc.returncode != 0:
        pytest.fail("the local cluster did not come up (see its output above)", pytrace=False)
    return REPO / ".cluster" / "kubeconfig"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Path]:
    yield external_kubeconfig() or bring_up()


@pytest.fixture(scope="session")
def kube(cluster: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster))
    yield api
    api.close()


@pytest.fixture
def namespace(kube: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for it to go)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # The service-account controller creates `default` shortly after; pods need it.
    wait_for(lambda: any(sa.metadata is not None and sa.metadata.name == "default"
                         for sa in core.list_namespaced_service_account(name).items), 30, "default SA")
    yield name
    core.delete_namespace(name)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def restricted_container(name: str, command: list[str], **extra: Any) -> client.V1Container:
    """A container that passes Pod Security `restricted`: non-root, no privilege escalation, no
    capabilities, RuntimeDefault seccomp (set on the pod)."""
    sc = client.V1SecurityContext(run_as_non_root=True, run_as_user=65534, allow_privilege_escalation=False,
                                  capabilities=client.V1Capabilities(drop=["ALL"]),
                                  read_only_root_filesystem=extra.pop("read_only_root", False))
    return client.V1Container(name=name, image=TESTBOX_IMAGE, image_pull_policy="IfNotPresent",
                              command=command, security_context=sc, **extra)


def pod_spec(containers: list[client.V1Container], **extra: Any) -> client.V1PodSpec:
    psc = client.V1PodSecurityContext(seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))
    return client.V1PodSpec(containers=containers, security_context=psc, **extra)


def run_pod(kube: client.ApiClient, namespace: str, name: str, spec: client.V1PodSpec,
            timeout: float = 90) -> tuple[str, str]:
    """Runs a pod to completion; returns (phase, logs of its first container)."""
    core = client.CoreV1Api(kube)
    spec.restart_policy = "Never"
    core.create_namespaced_pod(namespace, client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec))

    def done() -> str | None:
        status = core.read_namespaced_pod(name, namespace).status
        phase = status.phase if status is not None else None
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(done, timeout, f"pod {namespace}/{name} to finish")
    return phase, core.read_namespaced_pod_log(name, namespace)
