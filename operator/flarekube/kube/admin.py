"""Flare API sessions for the operator: the admin kit comes from its Secret, sessions are reused.

Opening an admin session costs a TLS handshake and a login, so one session per project is kept and
re-opened only when a call on it fails. The kit is written to a private temp dir (0700), never logged.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nvflare.fuel.flare_api.flare_api import Session

from flarekube import flare
from flarekube.kube.kitstore import SecretKitStore
from flarekube.provisioning import materialize

log = logging.getLogger(__name__)


@dataclass
class _Held:
    key: tuple[str, str, str]
    session: Session
    folder: tempfile.TemporaryDirectory[str]
    lock: threading.Lock


_sessions: dict[tuple[str, str], _Held] = {}
_guard = threading.Lock()


def _open(store: SecretKitStore, admin: str, fingerprint: str, timeout: float) -> _Held:
    folder = tempfile.TemporaryDirectory(prefix="flarekube-admin-")
    kit = materialize(store, admin, Path(folder.name) / "admin")
    try:
        sess = flare.connect(kit, admin, timeout=timeout)
    except Exception:
        folder.cleanup()
        raise
    return _Held((store.namespace, store.project, fingerprint), sess, folder, threading.Lock())


def drop(namespace: str, project: str) -> None:
    with _guard:
        held = _sessions.pop((namespace, project), None)
    if held is not None:
        with contextlib.suppress(Exception):
            held.session.close()
        held.folder.cleanup()


@contextlib.contextmanager
def session(store: SecretKitStore, admin: str, fingerprint: str, timeout: float = 15.0) -> Iterator[Session]:
    """A live admin session for the project; any error inside drops it so the next call reconnects."""
    slot = (store.namespace, store.project)
    with _guard:
        held = _sessions.get(slot)
    if held is not None and held.key[2] != fingerprint:
        drop(*slot)  # the kit changed (new CA): the old session speaks for the old identity
        held = None
    if held is None:
        held = _open(store, admin, fingerprint, timeout)
        with _guard:
            _sessions[slot] = held
    try:
        with held.lock:
            yield held.session
    except Exception:
        drop(*slot)
        raise
