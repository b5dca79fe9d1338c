"""Where the tests find helm: $FLAREKUBE_HELM, else the cluster build's (`make cluster-build`), else PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from clustertool import config  # the one place the cluster build's versions and paths live

NOT_BUILT = "helm is not built yet (run `make cluster-build`)"

# `helm template` has no cluster to ask; a helm built from source assumes Kubernetes v1.20, which the
# chart's kubeVersion (>= 1.30, for CEL fieldPath and transition rules) refuses.
KUBE_VERSION = ["--kube-version", config.K8S_VERSION]


def helm_binary() -> str | None:
    if os.environ.get("FLAREKUBE_HELM"):
        return os.environ["FLAREKUBE_HELM"]
    built = config.default_paths().helm_bin
    return str(built) if os.access(built, os.X_OK) else shutil.which("helm")


CHART = Path(__file__).resolve().parents[2] / "charts" / "flarekube"


def chart_rbac(
    namespace: str, watch: tuple[str, ...] | list[str] = (), cluster_wide: bool = False, sa: str = "flarekube"
) -> list[dict[str, Any]]:
    """The chart's RBAC objects as `helm template` renders them for a release in `namespace`: tests bind
    the operator to exactly what the chart grants (by default a Role per watched namespace)."""
    helm = helm_binary()
    assert helm, NOT_BUILT
    argv = [helm, "template", "flarekube", str(CHART), *KUBE_VERSION, "--namespace", namespace,
            "--set", f"clusterWide={str(cluster_wide).lower()}", "--set", f"serviceAccount.name={sa}",
            "--show-only", "templates/rbac.yaml"]  # fmt: skip
    if watch:  # `--set x={}` would be a list of one empty string
        argv += ["--set", f"watchNamespaces={{{','.join(watch)}}}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def apply_rbac(rbac: Any, obj: dict[str, Any]) -> None:
    """Create or replace one rendered RBAC object with a kubernetes RbacAuthorizationV1Api (a rerun of a
    suite finds them from the last run)."""
    from kubernetes import client

    kind, name, ns = obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
    snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in kind).lstrip("_")
    where = "namespaced_" if ns else ""
    create, replace = getattr(rbac, f"create_{where}{snake}"), getattr(rbac, f"replace_{where}{snake}")
    try:
        create(ns, obj) if ns else create(obj)
    except client.ApiException as err:
        if err.status != 409:
            raise
        replace(name, ns, obj) if ns else replace(name, obj)
