"""Writes OCI image archives (an image layout in a tar) with the standard library alone.

No registry and no Docker engine can be reached here, so every image of the test cluster is assembled from
local files: one uncompressed layer (containerd accepts it and skips a gzip pass over large layers), a
config and a manifest, named with both annotations that `ctr images import` and `kind load` read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Fixed mtime so that the same inputs give the same digests (and the cache key stays meaningful).
EPOCH = 0


@dataclass
class Entry:
    """One file in a layer: content from bytes or from a host file; directories are implied."""

    path: str
    data: bytes | None = None
    source: Path | None = None
    mode: int = 0o644
    symlink: str | None = None
    is_dir: bool = False


@dataclass
class ImageConfig:
    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin"])
    workdir: str = "/"


def full_name(ref: str) -> str:
    """containerd's normalized name: `flarekube/pause:0.1.0` -> `docker.io/flarekube/pause:0.1.0`."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def _dirs(paths: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out)


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.mtime = kind, mode, size, EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def write_layer_from_entries(entries: list[Entry], out: io.BufferedWriter) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        explicit = {e.path.strip("/"): e.mode for e in entries if e.is_dir}
        for d in sorted(set(_dirs(e.path for e in entries)) | set(explicit)):
            tar.addfile(_info(d, tarfile.DIRTYPE, explicit.get(d, 0o755)))
        for e in sorted(entries, key=lambda e: e.path):
            name = e.path.strip("/")
            if e.is_dir:
                continue
            if e.symlink is not None:
                ti = _info(name, tarfile.SYMTYPE, 0o777)
                ti.linkname = e.symlink
                tar.addfile(ti)
                continue
            data = e.data if e.data is not None else Path(str(e.source)).read_bytes()
            tar.addfile(_info(name, tarfile.REGTYPE, e.mode, len(data)), io.BytesIO(data))


def write_layer_from_dir(root: Path, out: io.BufferedWriter, exclude: frozenset[str] | set[str] = frozenset(),
                         ) -> None:
    """A whole root filesystem (e.g. from debootstrap), with owners and modes kept, in a stable order;
    `exclude` names top-level entries to leave out."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if Path(dirpath) == root:
                dirnames[:] = [d for d in dirnames if d not in exclude]
                filenames = [f for f in filenames if f not in exclude]
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath) / name
                ti = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                ti.mtime = EPOCH
                if ti.isreg():
                    with open(path, "rb") as fh:
                        tar.addfile(ti, fh)
                else:
                    tar.addfile(ti)


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    tar.addfile(_info(f"blobs/sha256/{digest}", tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return digest


def layer_digest(layer: Path) -> str:
    """sha256 of a layer tar, remembered beside it (hashing a multi-GB layer on every build is slow)."""
    memo = layer.with_name(layer.name + ".sha256")
    if memo.exists() and memo.stat().st_mtime >= layer.stat().st_mtime:
        return memo.read_text().strip()
    h = hashlib.sha256()
    with open(layer, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    memo.write_text(h.hexdigest())
    return h.hexdigest()


def write_archive(ref: str, layers: list[Path], config: ImageConfig, archive: Path,
                  omit: frozenset[str] | set[str] = frozenset()) -> None:
    """Wraps layer tars (bottom first) into an OCI layout archive at `archive` (written atomically).
    Layers whose digest is in `omit` are referenced but not written: a thin archive, for an import into
    a containerd that already holds them (containerd's importer resolves them from its content store)."""
    digests = [(layer_digest(layer), layer.stat().st_size) for layer in layers]
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": config.entrypoint or None, "Cmd": config.cmd or None, "User": config.user,
                   "Env": config.env, "WorkingDir": config.workdir},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d, _ in digests]},
        "history": [{"created_by": "flarekube tests/cluster/clustertool/oci.py"} for _ in layers],
    }
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=archive.parent, suffix=".part")
    os.close(fd)
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
        cfg_digest = _blob(tar, cfg_bytes)
        for layer, (digest, size) in zip(layers, digests, strict=True):
            if digest in omit:
                continue
            with open(layer, "rb") as fh:
                tar.addfile(_info(f"blobs/sha256/{digest}", tarfile.REGTYPE, 0o644, size), fh)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": f"sha256:{cfg_digest}", "size": len(cfg_bytes)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": f"sha256:{d}", "size": n} for d, n in digests],
        }
        man_bytes = json.dumps(manifest, sort_keys=True).encode()
        man_digest = _blob(tar, man_bytes)
        index = {
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": MEDIA_MANIFEST, "digest": f"sha256:{man_digest}", "size": len(man_bytes),
                "annotations": {"io.containerd.image.name": full_name(ref),
                                "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]},
            }],
        }
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", json.dumps(index, sort_keys=True).encode())):
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; `kind load` or another user may read it
    os.replace(tmp, archive)
    if not omit:
        prune(archive)


def prune(path: Path) -> None:
    """Removes older versions (other input hashes) of a cached file named NAME-HASH.EXT."""
    stem, ext = path.name.rsplit("-", 1)[0], path.name.rsplit(".", 1)[1]
    for old in path.parent.glob(f"{stem}-*.{ext}"):
        if old != path and old.name.rsplit("-", 1)[0] == stem:
            old.unlink(missing_ok=True)
            old.with_name(old.name + ".sha256").unlink(missing_ok=True)


def build_from_entries(ref: str, entries: list[Entry], config: ImageConfig, archive: Path) -> None:
    with tempfile.TemporaryDirectory(dir=archive.parent if archive.parent.exists() else None) as d:
        layer = Path(d) / "layer.tar"
        with open(layer, "wb") as fh:
            write_layer_from_entries(entries, fh)
        write_archive(ref, [layer], config, archive)
