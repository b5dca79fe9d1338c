"""Kits and CA state <-> flat ``{key: bytes}`` blobs, the only shape a Store ever sees.

Keys are valid Kubernetes Secret data keys (``[-._a-zA-Z0-9]+``), so a Secrets backend can put a blob set
into one Secret unchanged. A manifest (``kit.json`` / ``ca.json``) maps keys back to paths and modes; it
holds no key material.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from .model import CAState, CorruptState, IssuedFor, Kit, cert_fingerprint

Blobs = Mapping[str, bytes]
T = TypeVar("T")

KIT_MANIFEST = "kit.json"
CA_MANIFEST = "ca.json"
CA_CERT = "rootCA.pem"
CA_KEY = "rootCA.key"
FORMAT = 1

_UNSAFE = re.compile(r"[^-._a-zA-Z0-9]")


def _key_for(path: str, taken: set[str]) -> str:
    """A readable, Secret-safe key for a path: "startup/fed_client.json" -> "startup.fed_client.json"."""
    base = _UNSAFE.sub("-", path.replace("/", "."))
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}.{n}"
    taken.add(key)
    return key


def encode_kit(kit: Kit) -> dict[str, bytes]:
    taken = {KIT_MANIFEST}
    out: dict[str, bytes] = {}
    entries = []
    for path in sorted(kit.files):
        key = _key_for(path, taken)
        out[key] = kit.files[path]
        entries.append({"key": key, "path": path, "exec": path in kit.executables})
    manifest = {
        "format": FORMAT,
        "issued_for": kit.issued_for.to_json(),
        "fingerprint": kit.issued_for.fingerprint,
        "files": entries,
        "dirs": sorted(kit.dirs),
    }
    if kit.cert_path in kit.files:  # rolls the participant's pod when its certificate is renewed
        manifest["certificate_sha256"] = cert_fingerprint(kit.files[kit.cert_path])
    out[KIT_MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return out


def decode_kit(blobs: Blobs) -> Kit:
    manifest = _manifest(blobs, KIT_MANIFEST, "kit")
    issued_for = IssuedFor.from_json(_field(manifest, "issued_for", dict))
    files: dict[str, bytes] = {}
    executables: set[str] = set()
    for entry in _field(manifest, "files", list):
        if not isinstance(entry, dict):
            raise CorruptState(f"kit {issued_for.name!r}: malformed file entry in manifest")
        key, path = entry.get("key"), entry.get("path")
        if not isinstance(key, str) or not isinstance(path, str) or not _safe_relpath(path):
            raise CorruptState(f"kit {issued_for.name!r}: unsafe or malformed path in manifest")
        if key not in blobs:
            raise CorruptState(f"kit {issued_for.name!r}: {path} is missing")
        files[path] = bytes(blobs[key])
        if entry.get("exec") is True:
            executables.add(path)
    dirs = _field(manifest, "dirs", list)
    if not all(isinstance(d, str) and _safe_relpath(d) for d in dirs):
        raise CorruptState(f"kit {issued_for.name!r}: unsafe directory in manifest")
    return Kit(issued_for, files, frozenset(executables), frozenset(dirs))


@dataclass(frozen=True)
class KitFile:
    key: str  # blob / Secret data key
    path: str  # path inside the kit directory
    mode: int  # 0o700 for scripts, 0o600 otherwise


def kit_layout(blobs: Blobs) -> list[KitFile]:
    """Where each blob goes in a runnable kit: exactly a Secret volume's ``items`` (key, path, mode).

    Mounting a kit Secret with these items yields the NVFlare workspace layout without copying.
    """
    manifest = _manifest(blobs, KIT_MANIFEST, "kit")
    decode_kit(blobs)  # validates paths and presence of every file
    return [
        KitFile(e["key"], e["path"], 0o700 if e.get("exec") is True else 0o600) for e in _field(manifest, "files", list)
    ]


def kit_record(blobs: Blobs) -> tuple[IssuedFor, str]:
    """What the planner needs from a stored kit: its record and the fingerprint of the root it trusts."""
    kit = decode_kit(blobs)
    root = kit.files.get("startup/rootCA.pem")
    if root is None:
        raise CorruptState(f"kit {kit.name!r}: startup/rootCA.pem is missing")
    return kit.issued_for, cert_fingerprint(root)


def encode_ca(ca: CAState) -> dict[str, bytes]:
    manifest = {"format": FORMAT, "project": ca.project, "fingerprint": ca.fingerprint}
    return {
        CA_MANIFEST: json.dumps(manifest, indent=1, sort_keys=True).encode(),
        CA_CERT: ca.root_cert_pem,
        CA_KEY: ca.root_key_pem,
    }


def decode_ca(blobs: Blobs) -> CAState:
    manifest = _manifest(blobs, CA_MANIFEST, "CA state")
    if CA_CERT not in blobs or CA_KEY not in blobs:
        raise CorruptState(f"CA state lacks {CA_CERT} or {CA_KEY}")
    ca = CAState(_field(manifest, "project", str), bytes(blobs[CA_CERT]), bytes(blobs[CA_KEY]))
    ca.validate()
    return ca


def _manifest(blobs: Blobs, key: str, what: str) -> dict[str, object]:
    raw = blobs.get(key)
    if raw is None:
        raise CorruptState(f"{what} has no {key}")
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CorruptState(f"{what}: {key} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptState(f"{what}: {key} has an unknown format")
    return manifest


def _field(manifest: Mapping[str, object], name: str, typ: type[T]) -> T:
    value = manifest.get(name)
    if not isinstance(value, typ):
        raise CorruptState(f"manifest field {name!r} is missing or not a {typ.__name__}")
    return value


def _safe_relpath(path: str) -> bool:
    """Reject absolute paths and '..' so a tampered manifest cannot write outside the kit directory."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)
