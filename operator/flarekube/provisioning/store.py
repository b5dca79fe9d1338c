"""Where the root CA and the kits live: a bytes-in/bytes-out protocol and its local-directory backend.

A backend stores blob sets (``{key: bytes}``, see codec.py) and knows nothing about certificates. The
Kubernetes backend maps the CA to one Secret and each kit to one immutable Secret (replace = delete +
create); the participant name -> Secret name mapping (e.g. for "admin@org.com") is that backend's job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

Blobs = Mapping[str, bytes]


class Store(Protocol):
    def get_ca(self) -> Blobs | None:
        """The CA blob set, or None when none was ever stored."""

    def put_ca(self, blobs: Blobs, *, replace: bool) -> None:
        """Store the CA blob set atomically. With ``replace`` False it must not exist yet: raise
        FileExistsError instead (a Secret create answered 409), so two racing writers never both win."""

    def kit_names(self) -> frozenset[str]:
        """Names of the participants that have a stored kit."""

    def get_kit(self, name: str) -> Blobs:
        """A stored kit's blob set; KeyError when there is none."""

    def put_kit(self, name: str, blobs: Blobs, *, replace: bool) -> None:
        """Store one kit atomically (readers see the old set or the new one, never a mix); with
        ``replace`` False it must not exist yet (FileExistsError otherwise)."""

    def delete_kit(self, name: str) -> None:
        """Delete one kit; a missing kit is not an error."""

    def get_ledger(self) -> Blobs | None:
        """The certificate ledger's blob set (see ledger.py), or None when none was stored yet."""

    def put_ledger(self, blobs: Blobs) -> None:
        """Store the ledger atomically, replacing the previous one (it only ever grows)."""


class LocalKitStore:
    """``<root>/ca/`` and ``<root>/kits/<participant>/``, one file per blob; dirs 0700, files 0600.

    Each blob set is written into a staging dir and renamed into place, so a crash leaves either the old
    set or the new one. (Replacing an existing kit takes two renames; a crash between them leaves the kit
    absent, which the planner then treats as a kit to issue, never as a half-written one.)
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for d in (self.root, self._kits, self._staging):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(d, 0o700)  # mkdir's mode is masked by umask; kits must not be world-readable

    @classmethod
    def reader(cls, root: Path) -> LocalKitStore:
        """The store at `root` for reading only (`flarekube plan`): nothing is created, chmod-ed or written."""
        store = cls.__new__(cls)
        store.root = Path(root)
        return store

    @property
    def _kits(self) -> Path:
        return self.root / "kits"

    @property
    def _staging(self) -> Path:
        return self.root / ".staging"

    def get_ca(self) -> Blobs | None:
        return _read_dir(self.root / "ca") if (self.root / "ca").is_dir() else None

    def put_ca(self, blobs: Blobs, *, replace: bool) -> None:
        self._put_dir(self.root / "ca", blobs, replace)

    def kit_names(self) -> frozenset[str]:
        if not self._kits.is_dir():  # a reader() of a store that was never written
            return frozenset()
        return frozenset(p.name for p in self._kits.iterdir() if p.is_dir())

    def get_kit(self, name: str) -> Blobs:
        path = self._kit_dir(name)
        if not path.is_dir():
            raise KeyError(name)
        return _read_dir(path)

    def put_kit(self, name: str, blobs: Blobs, *, replace: bool) -> None:
        self._put_dir(self._kit_dir(name), blobs, replace)

    def delete_kit(self, name: str) -> None:
        path = self._kit_dir(name)
        if path.is_dir():
            trash = self._staging / f"del-{uuid.uuid4().hex}"
            os.rename(path, trash)  # one atomic step makes it disappear, then clean up
            shutil.rmtree(trash)

    def get_ledger(self) -> Blobs | None:
        path = self.root / "ledger"
        return _read_dir(path) if path.is_dir() else None

    def put_ledger(self, blobs: Blobs) -> None:
        self._put_dir(self.root / "ledger", blobs, True)

    def _kit_dir(self, name: str) -> Path:
        if not name or "/" in name or "\0" in name or name.startswith("."):
            raise ValueError(f"not a usable participant name for a kit directory: {name!r}")
        return self._kits / name

    def _put_dir(self, dest: Path, blobs: Blobs, replace: bool) -> None:
        new = Path(tempfile.mkdtemp(prefix="new-", dir=self._staging))  # mkdtemp: 0700
        for key, data in blobs.items():
            if not key or "/" in key or key.startswith("."):
                raise ValueError(f"not a usable blob key: {key!r}")
            _write_file(new / key, data)
        _fsync_dir(new)
        old = None
        if replace and dest.exists():
            old = self._staging / f"old-{uuid.uuid4().hex}"
            os.rename(dest, old)
        try:
            os.rename(new, dest)  # fails when dest exists and is not empty: create-only when not replacing
        except OSError as e:
            shutil.rmtree(new)
            if dest.exists():
                raise FileExistsError(f"{dest} already exists (written concurrently?)") from e
            raise
        _fsync_dir(dest.parent)
        if old is not None:
            shutil.rmtree(old)


def _read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


def _write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
