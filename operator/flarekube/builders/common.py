"""Pieces every built object shares: metadata with an owner, and the restricted security context.

Pure: dicts in the shape the API server accepts, no kubernetes client objects (they are easy to diff,
to apply with server-side apply and to test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flarekube_workloads.contract import FEDERATION_METRICS_PORT, FEDERATION_METRICS_PORT_NAME

from flarekube.api.common import GROUP_VERSION

Obj = dict[str, Any]

RUN_AS_USER = 10001  # the `flare` user of the runtime image
SCRATCH = "/tmp"

# The pods' federation metrics port (the metrics component in their local/, builders/sitelocal.py).
METRICS_PORT: dict[str, Any] = {"name": FEDERATION_METRICS_PORT_NAME, "containerPort": FEDERATION_METRICS_PORT,
                                "protocol": "TCP"}  # fmt: skip


@dataclass(frozen=True)
class Owner:
    """The custom resource that owns (and garbage-collects) what is built for it."""

    kind: str
    name: str
    uid: str
    namespace: str

    def reference(self) -> Obj:
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def metadata(
    name: str,
    owner: Owner,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def pod_security_context() -> Obj:
    """Pod Security `restricted`: non-root, RuntimeDefault seccomp; fsGroup makes Secret/PVC files ours."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Obj:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# Every emptyDir is sized (issue 12): a runaway job fills its own volume and is evicted, not the node.
SCRATCH_SIZE = "2Gi"
WORKSPACE_SIZE = "2Gi"  # NVFlare's workspace on tmpfs: the kit, each job's app, logs and model copies
WORKSPACE_MOUNT = "/workspace"
KIT_DIR = "kit"  # <workspace>/kit: the pod's working copy of its kit (NVFlare's own name for it)


# Used when the spec gives no resources at all: every pod has requests (the scheduler can place it) and
# a memory limit (a runaway job is OOM-killed in its own pod, not the node). Threat: one tenant's job
# starving the node the other federations share. The memory-backed workspace counts within the limit.
DEFAULT_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "server": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "4Gi"}},
    "site": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "8Gi"}},
}


def resources_or_default(given: dict[str, dict[str, str]], role: str) -> dict[str, dict[str, str]]:
    return given or {part: dict(values) for part, values in DEFAULT_RESOURCES[role].items()}


def scratch_volume(name: str = "scratch", size: str = SCRATCH_SIZE) -> Obj:
    return {"name": name, "emptyDir": {"sizeLimit": size}}


def workspace_volume() -> Obj:
    """NVFlare's workspace, memory-backed and sized. Threat: a private key (the kit's working copy under
    `<workspace>/kit`), or a model derived from a site's data, on a disk-backed volume outlives the pod on
    the node's disk and in its backups. The kit Secret is its one source; the server's job store (the
    only thing that must survive a restart) is on its PVC."""
    return {"name": "workspace", "emptyDir": {"medium": "Memory", "sizeLimit": WORKSPACE_SIZE}}


def workspace_mount() -> Obj:
    return {"name": "workspace", "mountPath": WORKSPACE_MOUNT}


def keys_mount(workspace: str) -> Obj:
    return {"name": "keys", "mountPath": f"{workspace}/{KIT_DIR}"}


def env(values: Mapping[str, str]) -> list[Obj]:
    return [{"name": k, "value": v} for k, v in values.items()]


# HOME and temp files go to the emptyDir: Python, torch and NVFlare all write there.
BASE_ENV = {"HOME": SCRATCH, "TMPDIR": SCRATCH, "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": SCRATCH}
