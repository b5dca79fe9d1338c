"""Where the tests find helm: $FLAREKUBE_HELM, else the cluster build's (`make cluster-build`), else PATH."""

from __future__ import annotations

import os
import shutil

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
