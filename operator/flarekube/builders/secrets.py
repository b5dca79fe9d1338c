"""Kits and the root CA as Secrets, and a kit Secret as a read-only volume laid out like the kit.

Each kit is one immutable Secret: replacing a kit is delete + create, so nothing can edit key
material in place. The CA Secret carries a finalizer while its project exists, so deleting it by
hand cannot silently lock every site out (a new CA would make every issued kit useless).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from flarekube import naming
from flarekube.builders.common import Obj, Owner, metadata
from flarekube.provisioning.codec import KIT_MANIFEST

KIT_MOUNT = "/kit"  # the read-only kit; the start command copies it onto the memory-backed keys volume
FILE_MODE = 0o440  # group-readable through the pod's fsGroup, never world-readable
EXEC_MODE = 0o550


def _data(blobs: Mapping[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in sorted(blobs.items())}


def kit_secret(project: str, participant: str, kind: str, blobs: Mapping[str, bytes], owner: Owner) -> Obj:
    annotations = {naming.ANNOTATION_PARTICIPANT: participant}
    manifest = blobs.get(KIT_MANIFEST)
    if manifest is not None:
        annotations[naming.ANNOTATION_FINGERPRINT] = str(json.loads(manifest).get("fingerprint", ""))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": metadata(
            naming.kit_secret(project, participant),
            owner,
            naming.kit_labels(project, participant, kind),
            annotations,
        ),
        "data": _data(blobs),
    }


def ca_secret(project: str, blobs: Mapping[str, bytes], owner: Owner) -> Obj:
    meta = metadata(naming.ca_secret(project), owner, naming.ca_labels(project))
    meta["finalizers"] = [naming.CA_FINALIZER]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True, "metadata": meta,
            "data": _data(blobs)}  # fmt: skip


def ledger_secret(project: str, blobs: Mapping[str, bytes], owner: Owner) -> Obj:
    meta = metadata(naming.ledger_secret(project), owner, naming.ca_labels(project))
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta, "data": _data(blobs)}


def kit_items(manifest: bytes) -> list[Obj]:
    """Secret volume items that recreate the kit's tree (startup/..., local/...) from its flat keys."""
    entries = json.loads(manifest).get("files", [])
    return [
        {"key": e["key"], "path": e["path"], "mode": EXEC_MODE if e.get("exec") else FILE_MODE}
        for e in sorted(entries, key=lambda e: str(e["path"]))
    ]


def kit_annotations(manifest: bytes) -> dict[str, str]:
    """The kit's certificate digest on the pod template: a renewed kit rolls its pod (NVFlare reads its
    certificate once, at start). Kits issued before the digest was recorded add nothing (no roll)."""
    cert = json.loads(manifest).get("certificate_sha256")
    return {naming.ANNOTATION_CERTIFICATE: str(cert)} if cert else {}


def kit_volume(project: str, participant: str, manifest: bytes, name: str = "kit") -> Obj:
    return {
        "name": name,
        "secret": {
            "secretName": naming.kit_secret(project, participant),
            "defaultMode": FILE_MODE,
            "items": kit_items(manifest),
        },
    }
