"""FLProject -> the NVFlare server: Deployment (1 replica, Recreate), Service, workspace PVC.

Recreate, not RollingUpdate: two servers with the same identity would split the federation. The PVC
holds the server workspace and NVFlare's job and snapshot stores (/tmp/nvflare by the kit's
defaults), so submitted jobs, their results and global models survive a server pod restart.
"""

from __future__ import annotations

from collections.abc import Mapping

from flarekube_workloads.contract import LIVE_LOCAL_ENV

from flarekube import naming
from flarekube.api.project import FLProject
from flarekube.builders import localconfig, secrets
from flarekube.builders.common import (
    BASE_ENV,
    METRICS_PORT,
    SCRATCH,
    WORKSPACE_MOUNT,
    Obj,
    Owner,
    container_security_context,
    env,
    metadata,
    pod_security_context,
    resources_or_default,
    scratch_volume,
    workspace_mount,
    workspace_volume,
)

STATE_MOUNT = "/var/lib/flarekube"
WORKSPACE = f"{WORKSPACE_MOUNT}/server"  # tmpfs; only the job store (below) is on the PVC
NVFLARE_STORE = f"{SCRATCH}/nvflare"  # NVFlare's default jobs-storage and snapshot-storage root
DEFAULT_STORAGE = "2Gi"
# No subPath mounts (kubelet creates subPath folders as root, which a non-root pod cannot write on
# provisioners without fsGroup support): NVFlare's store folder is a link from the scratch dir into the PVC.
START = (
    f"mkdir -p {STATE_MOUNT}/nvflare && ln -sfn {STATE_MOUNT}/nvflare {NVFLARE_STORE} && "
    f"{localconfig.start_from_kit_and_local(WORKSPACE)}"
)


def _project_key(project: FLProject) -> str:
    return project.metadata.name


def server_deployment(project: FLProject, owner: Owner, kit_manifest: bytes, host: str,
                      local: Mapping[str, bytes], connection: Mapping[str, bytes]) -> Obj:  # fmt: skip
    """`local`, `connection`: the server's rendered local/ and fed_server.json (its ConfigMaps' files)."""
    spec = project.spec
    name = naming.server(_project_key(project), spec.server.name)
    labels = naming.server_labels(_project_key(project))
    annotations = localconfig.pod_annotations(local, connection) | secrets.kit_annotations(kit_manifest)
    container: Obj = {
        "name": "server",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", "-c", START],
        "env": env(BASE_ENV | {LIVE_LOCAL_ENV: localconfig.LOCAL_MOUNT}),
        "ports": [
            *[
                {"name": "fl", "containerPort": spec.server.fl_port, "protocol": "TCP"},
                {"name": "admin", "containerPort": spec.server.admin_port, "protocol": "TCP"},
            ][: 1 if spec.server.fl_port == spec.server.admin_port else 2],
            METRICS_PORT,
        ],
        "volumeMounts": [
            {"name": "kit", "mountPath": secrets.KIT_MOUNT, "readOnly": True},
            localconfig.local_mount(),
            localconfig.connection_mount(),
            workspace_mount(),
            {"name": "scratch", "mountPath": SCRATCH},
            {"name": "state", "mountPath": STATE_MOUNT},
        ],
        "readinessProbe": {"tcpSocket": {"port": spec.server.fl_port}, "periodSeconds": 5},
        "livenessProbe": {
            "tcpSocket": {"port": spec.server.fl_port},
            "initialDelaySeconds": 60,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        "securityContext": container_security_context(),
    }
    container["resources"] = resources_or_default(spec.server.resources.as_kubernetes(), "server")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, owner, labels, {"flarekube.io/server-host": host}),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,  # NVFlare never talks to the API server
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [
                        secrets.kit_volume(_project_key(project), host, kit_manifest),
                        localconfig.local_volume(_project_key(project), host),
                        localconfig.connection_volume(_project_key(project), host),
                        workspace_volume(),
                        scratch_volume(),
                        {
                            "name": "state",
                            "persistentVolumeClaim": {
                                "claimName": naming.server_pvc(_project_key(project), spec.server.name)
                            },
                        },
                    ],
                },
            },
        },
    }


def server_service(project: FLProject, owner: Owner) -> Obj:
    spec = project.spec
    labels = naming.server_labels(_project_key(project))
    ports = [{"name": "fl", "port": spec.server.fl_port, "targetPort": spec.server.fl_port, "protocol": "TCP"}]
    if spec.server.admin_port != spec.server.fl_port:
        ports.append({"name": "admin", "port": spec.server.admin_port, "targetPort": spec.server.admin_port,
                      "protocol": "TCP"})  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(naming.server(_project_key(project), spec.server.name), owner, labels),
        "spec": {"selector": labels, "ports": ports, "type": "ClusterIP"},
    }


def server_pvc(project: FLProject, owner: Owner, storage: str = DEFAULT_STORAGE) -> Obj:
    """Kept when the server Deployment is replaced; deleted with the project (owner reference)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(
            naming.server_pvc(_project_key(project), project.spec.server.name),
            owner,
            naming.server_labels(_project_key(project)),
        ),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
    }
