"""The kit store's values: what a kit is, what it was issued for, and the root CA state.

Everything here is an in-memory value, independent of where it is stored (a directory, Kubernetes Secrets).
Key material is kept out of every ``repr`` so that a stray log line or traceback cannot leak it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from nvflare.apis.utils.format_check import name_check, type_pattern_mapping

from .inputs import ProvisioningInputs

Kind = Literal["server", "client", "admin"]

# A new root CA outlives the one-year participant certificates NVFlare issues, so that sites can be
# re-issued kits under the same root for years; NVFlare's own default (360 days) would lock every site
# out after a year.
DEFAULT_ROOT_CA_VALID_DAYS = 3650


class KitStoreRefusal(ValueError):
    """The change would replace a root CA or an issued kit; the message names the flag that allows it."""


class CorruptState(ValueError):
    """Stored CA or kit bytes cannot be decoded. The message never contains the bytes themselves."""


@dataclass(frozen=True)
class IssuedFor:
    """Everything a kit's bytes depend on. Two kits with equal records are interchangeable.

    Clients and admins embed the server's name (the host they dial and the TLS identity they expect), so
    it is part of every record; the server's org is only in the server's own kit. The ports are recorded
    too (the kit's own startup/fed_*.json carry them), but they are configuration, not identity: no
    certificate names a port, and builders/connection.py renders those files over the kit's copies from
    the spec. So ``identity_differences`` ignores them and a port change re-issues nothing.
    """

    project: str
    kind: Kind
    name: str
    org: str
    role: str  # admins only; "" otherwise
    server_name: str
    fl_port: int
    admin_port: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, object]) -> IssuedFor:
        try:
            return IssuedFor(
                project=str(data["project"]),
                kind=_kind(data["kind"]),
                name=str(data["name"]),
                org=str(data["org"]),
                role=str(data["role"]),
                server_name=str(data["server_name"]),
                fl_port=_int(data["fl_port"]),
                admin_port=_int(data["admin_port"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptState(f"kit record is malformed ({type(e).__name__}: {e})") from None

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def differences(self, other: IssuedFor) -> list[str]:
        """Human-readable field changes from ``self`` (stored) to ``other`` (wanted)."""
        old, new = self.to_json(), other.to_json()
        return [f"{k} {old[k]!r} -> {new[k]!r}" for k in old if old[k] != new[k]]

    def identity_differences(self, other: IssuedFor) -> list[str]:
        """The changes that need a new certificate: every field but the ports."""
        return [d for d in self.differences(other) if d.split(" ", 1)[0] not in CONFIG_FIELDS]

    def config_differences(self, other: IssuedFor) -> list[str]:
        """The changes that only re-render configuration (the ports): nothing is re-issued for them."""
        return [d for d in self.differences(other) if d.split(" ", 1)[0] in CONFIG_FIELDS]


# Fields of a kit's record that are configuration: rendered over the kit (builders/connection.py).
CONFIG_FIELDS = ("fl_port", "admin_port")


def _kind(value: object) -> Kind:
    if value == "server":
        return "server"
    if value == "client":
        return "client"
    if value == "admin":
        return "admin"
    raise ValueError(f"unknown kit kind {value!r}")


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_inputs(inputs: ProvisioningInputs) -> None:
    """Raise ValueError naming the field for anything NVFlare's provisioner would reject.

    Checked up front with NVFlare's own patterns so that nothing is half-issued. Note NVFlare's org
    pattern is ``[A-Za-z0-9_]+``: no hyphens or dots, unlike a DNS label.
    """
    s = inputs.server
    if not _PROJECT.match(inputs.project):
        raise ValueError(f"project: {inputs.project!r} must match {_PROJECT.pattern} (it names the root CA)")
    checks = [("server.name", s.name, "server")]
    checks.append(("server.org", s.org, "org"))
    for i, c in enumerate(inputs.clients):
        checks += [(f"clients[{i}].name", c.name, "client"), (f"clients[{i}].org", c.org, "org")]
    for i, a in enumerate(inputs.admins):
        checks += [(f"admins[{i}].email", a.email, "admin"), (f"admins[{i}].org", a.org, "org")]
        checks.append((f"admins[{i}].role", a.role, "simple_name"))
    for label, value, entity_type in checks:
        bad, _ = name_check(value, entity_type)
        if bad:
            pattern = type_pattern_mapping[entity_type]
            raise ValueError(f"{label}: {value!r} is not accepted by NVFlare (must match {pattern})")
    if len(s.name) > 63:
        raise ValueError(f"server.name: {s.name!r} is longer than 63 characters (it is the certificate CN)")
    for label, port in (("server.fl_port", s.fl_port), ("server.admin_port", s.admin_port)):
        if not 0 < port < 65536:
            raise ValueError(f"{label}: {port} is not a TCP port (1-65535)")


def wanted_records(inputs: ProvisioningInputs) -> dict[str, IssuedFor]:
    """One record per participant, server first, in input order; raises ValueError on invalid inputs."""
    check_inputs(inputs)
    s = inputs.server

    def rec(kind: Kind, name: str, org: str, role: str = "") -> IssuedFor:
        return IssuedFor(inputs.project, kind, name, org, role, s.name, s.fl_port, s.admin_port)

    records = [rec("server", s.name, s.org)]
    records += [rec("client", c.name, c.org) for c in inputs.clients]
    records += [rec("admin", a.email, a.org, a.role) for a in inputs.admins]
    out: dict[str, IssuedFor] = {}
    for r in records:
        if r.name in out:
            raise ValueError(f"participant name {r.name!r} is used twice; kits are keyed by name")
        out[r.name] = r
    return out


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 (hex) of a PEM certificate's DER form; raises CorruptState when it does not parse."""
    try:
        return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex()
    except ValueError:
        raise CorruptState("certificate cannot be parsed") from None


@dataclass(frozen=True)
class Kit:
    """One participant's startup kit: relative path -> bytes, plus which files must be executable."""

    issued_for: IssuedFor
    files: Mapping[str, bytes] = field(repr=False)
    executables: frozenset[str] = frozenset()
    dirs: frozenset[str] = frozenset()  # directories that exist even when empty (e.g. "transfer")

    @property
    def name(self) -> str:
        return self.issued_for.name

    @property
    def kind(self) -> Kind:
        return self.issued_for.kind

    @property
    def cert_path(self) -> str:
        return "startup/server.crt" if self.kind == "server" else "startup/client.crt"

    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.files[self.cert_path])
        except (KeyError, ValueError) as e:
            raise CorruptState(f"kit {self.name!r}: {self.cert_path} is missing or unreadable") from e


@dataclass(frozen=True)
class CAState:
    """The project's root CA: all NVFlare's CertBuilder needs to sign new kits under the same root."""

    project: str
    root_cert_pem: bytes = field(repr=False)
    root_key_pem: bytes = field(repr=False)

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_cert_pem)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the root certificate (DER): safe to show, identifies the root."""
        return cert_fingerprint(self.root_cert_pem)

    @property
    def not_after(self) -> datetime.datetime:
        return self.certificate().not_valid_after_utc

    def validate(self) -> None:
        """Raise CorruptState unless the cert parses, is a CA, and the key belongs to it."""
        try:
            cert = self.certificate()
            key = serialization.load_pem_private_key(self.root_key_pem, password=None)
        except (ValueError, TypeError) as e:
            raise CorruptState(f"root CA certificate or key cannot be parsed ({type(e).__name__})") from None
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CorruptState("stored root certificate is not a CA certificate")
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
            raise CorruptState("stored root key does not belong to the stored root certificate")


StoredKit = tuple[IssuedFor, str]  # the record a kit was issued for, and its root CA's fingerprint


@dataclass(frozen=True)
class StoredState:
    """What the store holds, as the planner sees it (no key material needed to plan).

    ``kits`` maps each stored participant to the record it was issued for and the fingerprint of the root
    that signed it, or to None when the stored kit cannot be decoded.
    """

    ca: CAState | None
    ca_error: str | None = None  # why the CA is unusable, when ``ca`` is None but something was stored
    kits: Mapping[str, StoredKit | None] = field(default_factory=dict)
    expires: Mapping[str, datetime.datetime] = field(default_factory=dict)  # readable kits: cert notAfter
    revoked: frozenset[str] = frozenset()  # revoked for good in the ledger (`flarekube site revoke`)
