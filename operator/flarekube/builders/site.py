"""FLProject site -> one Deployment: its kit read-only, its data read-only at /data, jobs in-process.

With job runtime `process` NVFlare starts each job as a child process of the site's client, so the
site pod needs nothing else. Recreate, not RollingUpdate: two pods with one site identity would fight
over the server's registration of that site.
"""

from __future__ import annotations

from collections.abc import Mapping

from flarekube import naming
from flarekube.api.project import FLProject, SiteSpec
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

DATA_MOUNT = "/data"  # what FLJob job folders are built with (SiteInputs.data_dir)
GPU_RESOURCE = "nvidia.com/gpu"


def data_volume(site: SiteSpec) -> Obj | None:
    """The spec's data source as a volume; None when the site has no data (or only a local path)."""
    source = site.data
    if source is None or source.local_path is not None:
        return None
    if source.host_path is not None:
        return {"name": "data", "hostPath": {"path": source.host_path.path, "type": "Directory"}}
    assert source.pvc is not None
    return {"name": "data", "persistentVolumeClaim": {"claimName": source.pvc.claim_name, "readOnly": True}}


def _resources(site: SiteSpec) -> Obj:
    resources = resources_or_default(site.resources.as_kubernetes(), "site")
    if site.gpus:
        # Extended resources must be equal in requests and limits; the limit is enough to ask for them.
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(site.gpus)
    return resources


def site_deployment(project: FLProject, site: SiteSpec, owner: Owner, kit_manifest: bytes,
                    local: Mapping[str, bytes], connection: Mapping[str, bytes]) -> Obj:  # fmt: skip
    """`local`, `connection`: the site's rendered local/ and fed_client.json (its ConfigMaps' files); their
    digests on the pod template roll the site when the policy or the ports change, while the kit Secret
    stays as issued."""
    key = project.metadata.name
    labels = naming.site_labels(key, site.name)
    workspace = f"{WORKSPACE_MOUNT}/{site.name}"
    mounts: list[Obj] = [
        {"name": "kit", "mountPath": secrets.KIT_MOUNT, "readOnly": True},
        localconfig.local_mount(),
        localconfig.connection_mount(),
        {"name": "scratch", "mountPath": SCRATCH},
        workspace_mount(),
    ]
    volumes: list[Obj] = [
        secrets.kit_volume(key, site.name, kit_manifest),
        localconfig.local_volume(key, site.name),
        localconfig.connection_volume(key, site.name),
        scratch_volume(),
        workspace_volume(),
    ]
    data = data_volume(site)
    if data is not None:
        volumes.append(data)
        mount: Obj = {"name": "data", "mountPath": DATA_MOUNT, "readOnly": True}
        if site.data is not None and site.data.pvc is not None and site.data.pvc.sub_path:
            mount["subPath"] = site.data.pvc.sub_path
        mounts.append(mount)
    annotations = localconfig.pod_annotations(local, connection) | secrets.kit_annotations(kit_manifest)
    container: Obj = {
        "name": "site",
        "image": project.spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", "-c", localconfig.start_from_kit_and_local(workspace)],
        "env": env(BASE_ENV),
        "ports": [METRICS_PORT],
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
    }
    resources = _resources(site)
    if resources:
        container["resources"] = resources
    pod: Obj = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if site.node_selector:
        pod["nodeSelector"] = dict(site.node_selector)
    if site.gpus:
        # GPU nodes are usually tainted so that only GPU work lands there.
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(naming.site(key, site.name), owner, labels),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
        },
    }
