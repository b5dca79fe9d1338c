"""FLProject status from what was observed: kits, server, sites, the Flare API's connected list.

Checks run in order (KitsIssued -> CertificatesValid -> ServerReady -> SitesConnected); Ready sums up. Nothing here is
counted across reconciles: the same snapshot always yields the same status.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flarekube.api.status import Condition, FLProjectStatus, ProjectPhase, SiteStatus
from flarekube.status.conditions import FALSE, TRUE, condition, merge, ready, run_chain


@dataclass(frozen=True)
class SiteObservation:
    name: str
    kit_issued: bool
    pod_phase: str | None  # None: no pod yet
    pod_ready: bool
    connected: bool
    cert_expires: datetime.datetime | None = None


@dataclass(frozen=True)
class ProjectSnapshot:
    generation: int
    server_endpoint: str
    sites: Sequence[SiteObservation]
    spec_error: str | None = None  # never fixed by retrying: invalid spec, unsupported runtime
    kit_error: str | None = None  # e.g. KitStoreRefusal: needs a human (and a flag)
    kits_missing: Sequence[str] = ()
    ca_fingerprint: str | None = None
    ca_expires: datetime.datetime | None = None
    server_ready: bool = False
    server_pod_phase: str | None = None
    flare_error: str | None = None  # the admin session failed; None when it answered (or not asked yet)
    flare_polled: bool = False
    cert_expiry: Mapping[str, datetime.datetime] | None = None  # participant -> its certificate's notAfter
    renew_before_days: int = 30
    checked_at: datetime.datetime | None = None  # when cert_expiry was judged (the reconcile's clock)
    renewal_waiting: Mapping[str, str] | None = None  # participant -> why its due renewal waits (renewal.py)


def _iso(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def check_kits(s: ProjectSnapshot) -> Condition:
    if s.spec_error:
        return condition("KitsIssued", FALSE, "InvalidSpec", s.spec_error)
    if s.kit_error:
        return condition("KitsIssued", FALSE, "KitsRefused", s.kit_error)
    if s.ca_fingerprint is None:
        return condition("KitsIssued", FALSE, "NoRootCA", "the root CA Secret does not exist yet")
    if s.kits_missing:
        return condition("KitsIssued", FALSE, "KitsMissing", "no kit Secret yet for " + ", ".join(s.kits_missing))
    return condition("KitsIssued", TRUE, "KitsIssued", f"root CA sha256 {s.ca_fingerprint[:16]}")


def check_certificates(s: ProjectSnapshot) -> Condition:
    """Every participant's certificate is valid now; the message names the first to expire."""
    if not s.cert_expiry:
        return condition("CertificatesValid", FALSE, "NoCertificates", "no participant certificate issued yet")
    now = s.checked_at or datetime.datetime.now(datetime.timezone.utc)
    name, first = min(s.cert_expiry.items(), key=lambda item: (item[1], item[0]))
    expired = sorted(n for n, t in s.cert_expiry.items() if t <= now)
    if expired:
        return condition("CertificatesValid", FALSE, "CertificateExpired",
                         f"expired: {', '.join(expired)} (first at {_iso(first)}); renew or re-issue them")  # fmt: skip
    left = f"{(first - now).days}d left"
    if s.renewal_waiting:
        why = "; ".join(f"{n} {w}" for n, w in sorted(s.renewal_waiting.items()))
        return condition("CertificatesValid", TRUE, "RenewalWaiting",
                         f"first to expire: {name} at {_iso(first)} ({left}); renewal of {why}")  # fmt: skip
    if first - datetime.timedelta(days=s.renew_before_days) <= now:
        return condition("CertificatesValid", TRUE, "RenewalPending",
                         f"first to expire: {name} at {_iso(first)} ({left}); its renewal is due")  # fmt: skip
    message = f"first to expire: {name} at {_iso(first)} ({left})"
    return condition("CertificatesValid", TRUE, "CertificatesValid", message)


def check_server(s: ProjectSnapshot) -> Condition:
    if s.server_ready:
        return condition("ServerReady", TRUE, "ServerReady", f"listening at {s.server_endpoint}")
    phase = s.server_pod_phase or "no pod"
    return condition("ServerReady", FALSE, "ServerNotReady", f"server pod: {phase}")


def check_sites(s: ProjectSnapshot) -> Condition:
    total = len(s.sites)
    connected = sum(1 for site in s.sites if site.connected)
    if s.flare_error:
        return condition("SitesConnected", FALSE, "AdminSessionFailed", s.flare_error)
    if not s.flare_polled:
        return condition("SitesConnected", FALSE, "NotPolledYet", f"0/{total} connected (not asked yet)")
    if connected == total:
        return condition("SitesConnected", TRUE, "AllSitesConnected", f"{connected}/{total} connected")
    missing = ", ".join(site.name for site in s.sites if not site.connected)
    return condition("SitesConnected", FALSE, "SitesMissing", f"{connected}/{total} connected; missing {missing}")


CHECKS = (check_kits, check_certificates, check_server, check_sites)


def phase(conditions: Sequence[Condition], s: ProjectSnapshot) -> ProjectPhase:
    if s.spec_error or s.kit_error:
        return "Failed"
    by_type = {c.type: c for c in conditions}
    if not by_type["KitsIssued"].ok:
        return "Provisioning"
    if by_type["CertificatesValid"].status == FALSE:
        return "Degraded"  # an expired certificate locks its participant out
    if not by_type["ServerReady"].ok:
        return "Pending"
    if not by_type["SitesConnected"].ok:
        # Some sites were connected before and are not now: that is a degraded federation, not a new one.
        return "Degraded" if any(site.connected for site in s.sites) else "Pending"
    return "Ready"


def _site(site: SiteObservation) -> SiteStatus:
    return SiteStatus(name=site.name, connected=site.connected, pod_phase=site.pod_phase or "None",
                      cert_expires=_iso(site.cert_expires))  # fmt: skip


def project_status(s: ProjectSnapshot, previous: FLProjectStatus | None, now: str | None = None) -> FLProjectStatus:
    conditions = run_chain(s, CHECKS)
    conditions.append(ready(conditions))
    connected = sum(1 for site in s.sites if site.connected)
    return FLProjectStatus(
        phase=phase(conditions, s),
        observed_generation=s.generation,
        sites_connected=connected,
        sites_total=len(s.sites),
        sites_summary=f"{connected}/{len(s.sites)}",
        server_endpoint=s.server_endpoint,
        ca_fingerprint=s.ca_fingerprint,
        ca_expires=_iso(s.ca_expires),
        certs_expire=_iso(min(s.cert_expiry.values())) if s.cert_expiry else None,
        sites=[_site(site) for site in s.sites],
        conditions=merge(previous.conditions if previous else None, conditions, s.generation, now),
    )
