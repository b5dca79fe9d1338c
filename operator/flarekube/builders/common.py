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


def scratch_volume(name: str = "scratch") -> Obj:
    return {"name": name, "emptyDir": {}}


def env(values: Mapping[str, str]) -> list[Obj]:
    return [{"name": k, "value": v} for k, v in values.items()]


# HOME and temp files go to the emptyDir: Python, torch and NVFlare all write there.
BASE_ENV = {"HOME": SCRATCH, "TMPDIR": SCRATCH, "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": SCRATCH}
