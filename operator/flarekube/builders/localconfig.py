"""A participant's rendered local/ (builders/sitelocal.py) as its own ConfigMap, apart from its kit Secret.

The kit Secret is identity (certificates, keys) and immutable; local/ is the site's policy and changes
with the FLProject. The pod copies the kit's startup/ and this ConfigMap's files into one workspace
source before NVFlare's sub_start.sh runs, so a policy change rewrites only the ConfigMap, and the
digest annotation on the pod template rolls the Deployment; the kit Secret stays byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping

from flarekube import naming
from flarekube.builders import secrets
from flarekube.builders.common import KEYS_MOUNT, Obj, Owner, metadata
from flarekube.builders.sitelocal import digest

LOCAL_MOUNT = "/local-config"
KIT_SOURCE = f"{KEYS_MOUNT}/kit"  # kit startup/ + rendered local/, on the memory-backed keys volume
WORKSPACE_ENV = "FLAREKUBE_WORKSPACE"  # where NVFlare runs; startup/ and local/ there link into KIT_SOURCE


def local_configmap(project: str, participant: str, kind: str, files: Mapping[str, bytes], owner: Owner) -> Obj:
    labels = {**naming.kit_labels(project, participant, kind), naming.LABEL_COMPONENT: naming.COMPONENT_LOCAL_CONFIG}
    annotations = {naming.ANNOTATION_PARTICIPANT: participant, naming.ANNOTATION_LOCAL_CONFIG: digest(files)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(naming.local_config(project, participant), owner, labels, annotations),
        "data": {name: files[name].decode() for name in sorted(files)},  # NVFlare's JSON and text files
    }


def local_volume(project: str, participant: str, name: str = "local") -> Obj:
    return {"name": name, "configMap": {"name": naming.local_config(project, participant),
                                        "defaultMode": secrets.FILE_MODE}}  # fmt: skip


def local_mount(name: str = "local") -> Obj:
    return {"name": name, "mountPath": LOCAL_MOUNT, "readOnly": True}


def start_from_kit_and_local() -> str:
    """Shell that assembles the kit (startup/ from the Secret, local/ from the ConfigMap) on the memory
    volume and starts NVFlare in the workspace. `-L`: ConfigMap files are links into its `..data` folder.
    NVFL_WORKSPACE stays unset: sub_start.sh would then copy the kit, keys included, into the
    disk-backed workspace; run from the workspace's links it uses them in place (keys never on disk)."""
    ws = f'"${WORKSPACE_ENV}"'
    return (
        f"rm -rf {KIT_SOURCE} && mkdir -p {KIT_SOURCE}/local && "
        f"cp -rL {secrets.KIT_MOUNT}/startup {KIT_SOURCE}/ && cp -L {LOCAL_MOUNT}/* {KIT_SOURCE}/local/ && "
        f"chmod -R go-rwx {KIT_SOURCE} && mkdir -p {ws} && chmod 700 {ws} && "
        f"rm -rf {ws}/startup {ws}/local {ws}/kit && "
        f"ln -s {KIT_SOURCE}/startup {ws}/startup && ln -s {KIT_SOURCE}/local {ws}/local && "
        f"exec bash {ws}/startup/sub_start.sh --once"
    )


def pod_annotations(files: Mapping[str, bytes]) -> dict[str, str]:
    return {naming.ANNOTATION_LOCAL_CONFIG: digest(files)}
