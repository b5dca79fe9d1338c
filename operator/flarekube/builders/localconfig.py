"""A participant's rendered configuration as ConfigMaps, apart from its kit Secret.

The kit Secret is identity (certificates, keys) and immutable. Two things change with the FLProject and
are configuration: local/ (the site's policy, builders/sitelocal.py) and the connection file in
startup/ (the server's ports, builders/connection.py). Each is one ConfigMap per participant. The pod
copies the kit's startup/, then the connection ConfigMap's file over the kit's copy, then the local/
ConfigMap's files into one workspace source before NVFlare's sub_start.sh runs, so a policy or port
change rewrites only a ConfigMap, and the digest annotations on the pod template roll the Deployment;
the kit Secret stays byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping

from flarekube import naming
from flarekube.builders import secrets
from flarekube.builders.common import KEYS_MOUNT, Obj, Owner, metadata
from flarekube.builders.connection import file_names
from flarekube.builders.sitelocal import digest

LOCAL_MOUNT = "/local-config"
CONNECTION_MOUNT = "/connection-config"
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


def connection_configmap(project: str, participant: str, kind: str, files: Mapping[str, bytes],
                         owner: Owner) -> Obj:  # fmt: skip
    """`files`: the participant's rendered connection file (render_connection: kit path -> bytes)."""
    labels = {**naming.kit_labels(project, participant, kind), naming.LABEL_COMPONENT: naming.COMPONENT_CONNECTION}
    annotations = {naming.ANNOTATION_PARTICIPANT: participant, naming.ANNOTATION_CONNECTION: digest(files)}
    by_name = file_names(files)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(naming.connection_config(project, participant), owner, labels, annotations),
        "data": {name: by_name[name].decode() for name in sorted(by_name)},
    }


def connection_volume(project: str, participant: str, name: str = "connection") -> Obj:
    return {"name": name, "configMap": {"name": naming.connection_config(project, participant),
                                        "defaultMode": secrets.FILE_MODE}}  # fmt: skip


def connection_mount(name: str = "connection") -> Obj:
    return {"name": name, "mountPath": CONNECTION_MOUNT, "readOnly": True}


def local_volume(project: str, participant: str, name: str = "local") -> Obj:
    return {"name": name, "configMap": {"name": naming.local_config(project, participant),
                                        "defaultMode": secrets.FILE_MODE}}  # fmt: skip


def local_mount(name: str = "local") -> Obj:
    return {"name": name, "mountPath": LOCAL_MOUNT, "readOnly": True}


def start_from_kit_and_local() -> str:
    """Shell that assembles the kit on the memory volume (startup/ from the Secret with the connection
    ConfigMap's file over the kit's copy, local/ from its ConfigMap) and starts NVFlare in the workspace.
    `-L`: ConfigMap files are links into its `..data` folder; `-f`: the kit's copy is read-only (Secret
    mode 0440). NVFL_WORKSPACE stays unset: sub_start.sh would then copy the kit, keys included, into
    the disk-backed workspace; run from the workspace's links it uses them in place (keys never on disk)."""
    ws = f'"${WORKSPACE_ENV}"'
    return (
        f"rm -rf {KIT_SOURCE} && mkdir -p {KIT_SOURCE}/local && "
        f"cp -rL {secrets.KIT_MOUNT}/startup {KIT_SOURCE}/ && cp -fL {CONNECTION_MOUNT}/* {KIT_SOURCE}/startup/ && "
        f"cp -L {LOCAL_MOUNT}/* {KIT_SOURCE}/local/ && "
        f"chmod -R go-rwx {KIT_SOURCE} && mkdir -p {ws} && chmod 700 {ws} && "
        f"rm -rf {ws}/startup {ws}/local {ws}/kit && "
        f"ln -s {KIT_SOURCE}/startup {ws}/startup && ln -s {KIT_SOURCE}/local {ws}/local && "
        f"exec bash {ws}/startup/sub_start.sh --once"
    )


def pod_annotations(files: Mapping[str, bytes], connection: Mapping[str, bytes]) -> dict[str, str]:
    """The digests that roll the pod: its policy (local/) and its connection file (the ports)."""
    return {naming.ANNOTATION_LOCAL_CONFIG: digest(files), naming.ANNOTATION_CONNECTION: digest(connection)}
