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
from flarekube.builders.common import KIT_DIR, Obj, Owner, metadata
from flarekube.builders.connection import file_names
from flarekube.builders.sitelocal import digest

LOCAL_MOUNT = "/local-config"
CONNECTION_MOUNT = "/connection-config"


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


def kit_source(workspace: str) -> str:
    """Where the pod assembles its kit: `<workspace>/kit`, the mount point of the memory-backed keys volume."""
    return f"{workspace}/{KIT_DIR}"


def start_from_kit_and_local(workspace: str) -> str:
    """Shell that assembles the kit on the memory volume mounted at `<workspace>/kit` (startup/ from the
    Secret with the connection ConfigMap's file over the kit's copy, local/ from its ConfigMap) and starts
    NVFlare in `workspace`, where startup/ and local/ are links into it (NVFlare's own layout).

    `-L`: ConfigMap files are links into its `..data` folder; `-f`: the kit's copy is read-only (Secret
    mode 0440). NVFL_WORKSPACE stays unset: sub_start.sh would then copy the kit, keys included, into
    the disk-backed workspace. The kit folder is a real folder (a mount point) under the workspace, not
    a link: NVFlare finds fed_*.json by walking the workspace, and os.walk does not follow links."""
    kit = kit_source(workspace)
    return (
        f"mkdir -p {workspace} {kit} && chmod 700 {workspace} && rm -rf {kit}/startup {kit}/local && "
        f"mkdir -p {kit}/local && cp -rL {secrets.KIT_MOUNT}/startup {kit}/ && "
        f"cp -fL {CONNECTION_MOUNT}/* {kit}/startup/ && cp -L {LOCAL_MOUNT}/* {kit}/local/ && "
        f"chmod -R go-rwx {kit}/startup {kit}/local && rm -rf {workspace}/startup {workspace}/local && "
        f"ln -s {kit}/startup {workspace}/startup && ln -s {kit}/local {workspace}/local && "
        f"exec bash {workspace}/startup/sub_start.sh --once"
    )


def pod_annotations(files: Mapping[str, bytes], connection: Mapping[str, bytes]) -> dict[str, str]:
    """The digests that roll the pod: its policy (local/) and its connection file (the ports)."""
    return {naming.ANNOTATION_LOCAL_CONFIG: digest(files), naming.ANNOTATION_CONNECTION: digest(connection)}
