"""ensure_kits: make the store hold exactly the kits the inputs call for, issuing only what is missing.

Order matters for crash safety (an operator may be killed at any line): everything is issued in memory
first, then the CA is stored, then kits, then removals. A crash after the CA is stored leaves a CA with
missing kits, which the next run issues under that same CA; nothing is ever regenerated silently.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .codec import decode_ca, decode_kit, encode_ca, encode_kit, kit_record
from .inputs import ProvisioningInputs
from .issue import issue_kits
from .ledger import Ledger, LedgerEntry, decode_ledger, encode_ledger, entry_for, record, revoke
from .model import DEFAULT_ROOT_CA_VALID_DAYS, CorruptState, Kit, KitStoreRefusal, StoredKit, StoredState
from .plan import plan
from .store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KitReport:
    issued: tuple[str, ...]
    kept: tuple[str, ...]
    removed: tuple[str, ...]
    ca_created: bool
    ca_fingerprint: str  # SHA-256 of the root certificate, hex
    ca_expires: datetime.datetime
    cert_expiry: Mapping[str, datetime.datetime]  # participant -> its certificate's notAfter
    renewed: tuple[str, ...] = ()  # the subset of ``issued`` renewed because their certificate was expiring
    reconfigured: tuple[str, ...] = ()  # kept kits whose config (ports) is re-rendered: nothing re-issued
    ledger: Ledger = field(default_factory=Ledger)


def load_state(store: Store) -> StoredState:
    """Read what the store holds. A CA that cannot be decoded is reported (never repaired) as ca_error."""
    ca, ca_error = None, None
    raw_ca = store.get_ca()
    if raw_ca is not None:
        try:
            ca = decode_ca(raw_ca)
        except CorruptState as e:
            ca_error = str(e)
    kits: dict[str, StoredKit | None] = {}
    expires: dict[str, datetime.datetime] = {}
    for name in sorted(store.kit_names()):
        try:
            blobs = store.get_kit(name)
            kits[name] = kit_record(blobs)
            expires[name] = decode_kit(blobs).certificate().not_valid_after_utc
        except CorruptState as e:
            log.warning("stored kit %r is unreadable: %s", name, e)
            kits[name] = None
    revoked = decode_ledger(store.get_ledger()).revoked_for_good()
    return StoredState(ca, ca_error, kits, expires, revoked)


def ensure_kits(
    inputs: ProvisioningInputs,
    store: Store,
    *,
    reissue_kits: bool = False,
    new_root_ca: bool = False,
    root_ca_valid_days: int = DEFAULT_ROOT_CA_VALID_DAYS,
    now: datetime.datetime | None = None,
    readmit_revoked: bool = False,
    hold: Collection[str] = (),
) -> KitReport:
    """Issue missing kits, remove unwanted ones, keep the rest byte for byte.

    Raises KitStoreRefusal (a ValueError whose message names the flag) when that would need a new root CA
    (``new_root_ca``) or a re-issued kit (``reissue_kits``) that was not asked for. Kits whose certificate
    is inside the renewal window at ``now`` (default: the real clock) are renewed with a fresh key.
    The ledger is written last, from what the store then holds (a crash before it is repaired next run).
    A participant revoked for good is issued a kit again only with ``readmit_revoked``; renewals of the
    participants in ``hold`` wait (see builders/renewal.py: one site at a time, the server between jobs).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    state = load_state(store)
    p = plan(inputs, state, reissue_kits=reissue_kits, new_root_ca=new_root_ca, now=now,
             readmit_revoked=readmit_revoked, hold=hold)  # fmt: skip
    if p.refusal:
        raise KitStoreRefusal(p.refusal)

    ca = state.ca
    issued: tuple[Kit, ...] = ()
    if p.issue:
        names = [k.record.name for k in p.issue]
        result = issue_kits(
            inputs, None if p.create_root_ca else ca, names, root_ca_valid_days=root_ca_valid_days, now=now
        )
        ca, issued = result.ca, result.kits
    if ca is None:  # cannot happen: a plan without a CA issues at least the server
        raise RuntimeError("no root CA after planning")
    if p.create_root_ca:
        something_stored = state.ca is not None or state.ca_error is not None
        store.put_ca(encode_ca(ca), replace=something_stored)
        log.info("created root CA for project %r (sha256 %s)", inputs.project, ca.fingerprint)
    for kit in issued:
        store.put_kit(kit.name, encode_kit(kit), replace=kit.name in state.kits)
    for planned in p.issue:
        log.info("issued kit %r (%s): %s", planned.record.name, planned.record.kind, planned.reason)
    for name in p.remove:
        store.delete_kit(name)
        log.info("removed kit %r", name)

    expiry = {k.name: k.certificate().not_valid_after_utc for k in issued}
    for name in p.keep:
        expiry[name] = decode_kit(store.get_kit(name)).certificate().not_valid_after_utc
    ledger = _update_ledger(store, {k.record.name: k.reason for k in p.issue})
    return KitReport(
        issued=tuple(k.name for k in issued),
        kept=p.keep,
        removed=p.remove,
        ca_created=p.create_root_ca,
        ca_fingerprint=ca.fingerprint,
        ca_expires=ca.not_after,
        cert_expiry=expiry,
        renewed=p.renew,
        reconfigured=tuple(k.record.name for k in p.reconfigure),
        ledger=ledger,
    )


def _update_ledger(store: Store, reasons: Mapping[str, str]) -> Ledger:
    """Record every stored kit's certificate; write the ledger only when that changed it."""
    old = decode_ledger(store.get_ledger())
    current: dict[str, LedgerEntry] = {}
    for name in store.kit_names():
        blobs = store.get_kit(name)
        current[name] = entry_for(decode_kit(blobs), blobs)
    new = record(old, current, reasons)
    if new != old or store.get_ledger() is None:
        store.put_ledger(encode_ledger(new))
    return new


def revoke_kit(store: Store, name: str, why: str = "") -> Ledger:
    """Revoke ``name``'s certificates for good and delete its kit: the ledger first, so a crash in between
    leaves a kit whose serial is already refused (a second call deletes it), never an unrecorded removal."""
    ledger = revoke(decode_ledger(store.get_ledger()), name, why)
    store.put_ledger(encode_ledger(ledger))
    store.delete_kit(name)
    log.info("revoked the certificates of %r and removed its kit", name)
    return ledger


def write_kit(kit: Kit, dest: Path, config: Mapping[str, bytes] | None = None) -> Path:
    """Write a kit as a runnable NVFlare workspace: dirs 0700, files 0600, scripts 0700.

    ``config`` (kit path -> bytes) is configuration rendered apart from the kit (the connection files,
    builders/connection.py), written over the kit's own copies; the kit itself is not changed.
    ``startup/`` and ``local/`` are replaced so no stale key from an earlier kit survives; anything else in
    ``dest`` (logs, transfer, job workspaces) is left alone so a workspace can be reused across runs.
    """
    dest = Path(dest)
    _mkdir(dest)
    for top in ("startup", "local"):
        if (dest / top).exists():
            shutil.rmtree(dest / top)
    for d in sorted(kit.dirs):
        _mkdir(dest / d)
    for rel, data in {**kit.files, **(config or {})}.items():
        path = dest / rel
        _mkdir(path.parent)
        mode = 0o700 if rel in kit.executables else 0o600
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    return dest


def materialize(
    store: Store, name: str, dest: Path, config: Callable[[Kit], Mapping[str, bytes]] | None = None
) -> Path:
    """Write participant ``name``'s stored kit to ``dest`` (see write_kit) and return ``dest``.

    ``config``: the kit -> the configuration files rendered for it (written over the kit's copies)."""
    kit = decode_kit(store.get_kit(name))
    return write_kit(kit, dest, config(kit) if config else None)


def _mkdir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
