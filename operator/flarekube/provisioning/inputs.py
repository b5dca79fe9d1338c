"""What a federation's kits are issued for: the contract between the spec and the kit store.

Pure values, no NVFlare, no I/O. The lead maps the pydantic FLProject spec onto these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerIdentity:
    name: str  # TLS identity AND the host clients dial (e.g. "localhost", or "crc-server.ns.svc")
    org: str
    fl_port: int
    admin_port: int  # may equal fl_port (NVFlare 2.4+ single port) — support both


@dataclass(frozen=True)
class ClientIdentity:
    name: str
    org: str


@dataclass(frozen=True)
class AdminIdentity:
    email: str
    org: str
    role: str = "project_admin"


@dataclass(frozen=True)
class CertPolicy:
    """spec.certificates: leaf lifetime and renewal window, in days. Not part of any kit's record:
    changing it re-issues nothing by itself; it applies to the next certificate issued or renewed."""

    validity_days: int = 360
    renew_before_days: int = 30


@dataclass(frozen=True)
class ProvisioningInputs:
    project: str
    server: ServerIdentity
    clients: tuple[ClientIdentity, ...]
    admins: tuple[AdminIdentity, ...]
    certs: CertPolicy = CertPolicy()
