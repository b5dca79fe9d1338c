"""The ledger: every certificate ever issued in a project, kept with its root CA.

One entry per certificate (participant, serial, public-key fingerprint, validity, digest of the kit's
blobs, status). It is the one record other checks read: which certificate is a participant's current one
(``active``), which were replaced by a renewal or re-issue (``superseded``), and which may never connect
again (``revoked``: the participant was removed). NVFlare itself has no revocation; the ledger is what a
server-side check would refuse by serial.

``record`` is idempotent and derived from what the store holds, so a crash between storing a kit and
storing the ledger is repaired by the next run (the stored kit's certificate is recorded then).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .model import CorruptState, Kit

Status = Literal["active", "superseded", "revoked"]
# The reason of an entry revoked by `flarekube site revoke`: that participant is removed for good, and a
# kit is issued for its name again only when asked (READMIT_FLAG); a participant merely dropped from the
# spec is revoked too ("participant removed") but may come back like any new participant.
REVOKED_FOR_GOOD = "revoked for good"
READMIT_FLAG = "--readmit-revoked"
LEDGER_KEY = "ledger.json"
FORMAT = 1
Blobs = Mapping[str, bytes]


@dataclass(frozen=True)
class LedgerEntry:
    participant: str
    kind: str
    serial: str  # hex, as openssl prints it
    key_sha256: str  # SHA-256 of the certificate's public key (SubjectPublicKeyInfo, DER)
    cert_sha256: str
    kit_sha256: str  # digest of the stored kit's blobs (see kit_digest)
    not_before: str  # RFC 3339
    not_after: str
    status: Status
    reason: str = ""

    @property
    def expires(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.not_after)


@dataclass(frozen=True)
class Ledger:
    entries: tuple[LedgerEntry, ...] = ()

    def active(self, participant: str) -> LedgerEntry | None:
        for e in reversed(self.entries):
            if e.participant == participant and e.status == "active":
                return e
        return None

    def refused_serials(self) -> frozenset[str]:
        """Serials a server must refuse: every certificate that is no longer a participant's current one."""
        return frozenset(e.serial for e in self.entries if e.status != "active")

    def revoked_for_good(self) -> frozenset[str]:
        """Participants revoked by `site revoke` that have no active certificate since (not readmitted)."""
        gone = {e.participant for e in self.entries if e.status == "revoked" and e.reason.startswith(REVOKED_FOR_GOOD)}
        return frozenset(gone - {e.participant for e in self.entries if e.status == "active"})

    def first_to_expire(self) -> LedgerEntry | None:
        active = [e for e in self.entries if e.status == "active"]
        return min(active, key=lambda e: e.expires) if active else None


def kit_digest(blobs: Blobs) -> str:
    """SHA-256 over a kit's blob set (sorted keys, length-prefixed), the same for a Secret and a directory."""
    h = hashlib.sha256()
    for key in sorted(blobs):
        data = bytes(blobs[key])
        h.update(f"{key}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).isoformat()


def entry_for(kit: Kit, blobs: Blobs, status: Status = "active", reason: str = "") -> LedgerEntry:
    cert = kit.certificate()
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return LedgerEntry(
        participant=kit.name,
        kind=kit.kind,
        serial=format(cert.serial_number, "X"),
        key_sha256=hashlib.sha256(spki).hexdigest(),
        cert_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        kit_sha256=kit_digest(blobs),
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        status=status,
        reason=reason,
    )


def record(ledger: Ledger, current: Mapping[str, LedgerEntry], reasons: Mapping[str, str] | None = None) -> Ledger:
    """The ledger after the store came to hold ``current`` (participant -> its stored kit's entry).

    A certificate not yet recorded is appended as active; any other active entry of that participant is
    superseded; the active entries of participants no longer stored are revoked. Revoked stays revoked.
    """
    reasons = reasons or {}
    known = {e.serial for e in ledger.entries}
    current_serials = {e.serial for e in current.values()}
    out: list[LedgerEntry] = []
    for e in ledger.entries:
        if e.status != "active" or e.serial in current_serials:
            out.append(e)
        elif e.participant in current:
            out.append(replace(e, status="superseded", reason=reasons.get(e.participant, "replaced")))
        else:
            out.append(replace(e, status="revoked", reason="participant removed"))
    for name, entry in current.items():
        if entry.serial not in known:
            out.append(replace(entry, status="active", reason=reasons.get(name, entry.reason)))
    return Ledger(tuple(out))


def revoke(ledger: Ledger, participant: str, why: str = "") -> Ledger:
    """Every active certificate of ``participant`` revoked for good (the others untouched); idempotent."""
    reason = REVOKED_FOR_GOOD + (f": {why}" if why else "")
    return Ledger(tuple(
        replace(e, status="revoked", reason=reason) if e.participant == participant and e.status == "active" else e
        for e in ledger.entries
    ))  # fmt: skip


def encode_ledger(ledger: Ledger) -> dict[str, bytes]:
    doc = {"format": FORMAT, "entries": [asdict(e) for e in ledger.entries]}
    return {LEDGER_KEY: json.dumps(doc, indent=1, sort_keys=True).encode()}


def decode_ledger(blobs: Blobs | None) -> Ledger:
    if not blobs or LEDGER_KEY not in blobs:
        return Ledger()
    try:
        doc = json.loads(blobs[LEDGER_KEY])
        if doc.get("format") != FORMAT:
            raise ValueError("unknown format")
        return Ledger(tuple(LedgerEntry(**e) for e in doc["entries"]))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CorruptState(f"certificate ledger is malformed ({type(e).__name__})") from None


def certificate_serial(cert_pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "X")
