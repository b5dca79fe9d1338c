"""Prometheus metrics of the operator: one definition, read by the chart's dashboard and alerts.

The names here are a contract: the chart's alerts and Grafana dashboards (generated from
`flarekube/observability/`) query them by name, and
`tests/unit/test_chart.py` fails when one of them uses a name that is not defined here.
Gauges are set from observed status (never counted up in handlers), so a restarted operator
reports the same values as soon as it has reconciled once.
"""

from __future__ import annotations

import contextlib
import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from flarekube.provisioning.ledger import Ledger

DEFAULT_PORT = 9090

SITES_CONNECTED = Gauge(
    "flarekube_sites_connected",
    "Sites of an FLProject connected to its NVFlare server.",
    ["project", "namespace"],
)
SITES_TOTAL = Gauge(
    "flarekube_sites_total",
    "Sites an FLProject declares.",
    ["project", "namespace"],
)
JOB_ROUND = Gauge(
    "flarekube_job_round",
    "Rounds an FLJob has completed.",
    ["job", "project"],
)
JOB_ROUNDS_TOTAL = Gauge(
    "flarekube_job_rounds_total",
    "Rounds an FLJob asks for.",
    ["job", "project"],
)
JOB_METRIC = Gauge(
    "flarekube_job_metric",
    "Latest global validation metric of an FLJob (e.g. metric=\"auc\").",
    ["job", "metric"],
)
PROJECT_READY = Gauge(
    "flarekube_project_ready",
    "1 while an FLProject's Ready condition is True, else 0 (the chart alerts on 0 for 10 minutes).",
    ["project", "namespace"],
)
JOB_PHASE = Gauge(
    "flarekube_job_phase",
    "1 for an FLJob's current phase, 0 for the others (the chart alerts on phase=\"Failed\").",
    ["job", "project", "phase"],
)
RECONCILE_SECONDS = Histogram(
    "flarekube_reconcile_seconds",
    "Time one reconciliation of a resource took.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RECONCILE_ERRORS = Counter(
    "flarekube_reconcile_errors",  # exposed as flarekube_reconcile_errors_total
    "Reconciliations that ended in an error (temporary or permanent).",
    ["kind"],
)

CERT_EXPIRY = Gauge(
    "flarekube_certificate_expiry_timestamp_seconds",
    "Unix time a participant's current certificate (kind=server|client|admin) or the root CA (kind=ca) expires, "
    "from the project's certificate ledger.",
    ["project", "namespace", "participant", "kind"],
)
CERT_RENEWAL_WINDOW = Gauge(
    "flarekube_certificate_renewal_window_seconds",
    "spec.certificates.renewBeforeDays in seconds: a certificate this close to expiry is renewed.",
    ["project", "namespace"],
)
CERT_RENEWING = Gauge(
    "flarekube_certificate_renewing",
    "1 when the project's latest reconcile renewed a certificate (renewal under way), else 0.",
    ["project", "namespace"],
)

# Every metric family name as Prometheus exposes it; the chart's tests check their queries against it.
EXPOSED_NAMES: frozenset[str] = frozenset(
    {
        "flarekube_sites_connected",
        "flarekube_sites_total",
        "flarekube_job_round",
        "flarekube_job_rounds_total",
        "flarekube_job_metric",
        "flarekube_project_ready",
        "flarekube_job_phase",
        "flarekube_reconcile_seconds_bucket",
        "flarekube_reconcile_seconds_sum",
        "flarekube_reconcile_seconds_count",
        "flarekube_reconcile_errors_total",
        "flarekube_certificate_expiry_timestamp_seconds",
        "flarekube_certificate_renewal_window_seconds",
        "flarekube_certificate_renewing",
    }
)


def record_certificates(project: str, namespace: str, ledger: Ledger, ca_expires: datetime.datetime | None,
                        renew_before_days: int, renewing: bool) -> None:  # fmt: skip
    """The certificate gauges of one project, from its ledger's active entries (the certificates in use).

    A renewal replaces a participant's active entry, so its series moves out of the renewal window at
    once; the chart's FlarekubeCertificateExpiring alert fires only for one that stays inside it."""
    active = {(e.participant, e.kind): e for e in ledger.entries if e.status == "active"}
    for e in ledger.entries:
        if (e.participant, e.kind) not in active:  # revoked (removed participant): no longer in use
            with contextlib.suppress(KeyError):
                CERT_EXPIRY.remove(project, namespace, e.participant, e.kind)
    for (participant, kind), e in active.items():
        CERT_EXPIRY.labels(project, namespace, participant, kind).set(e.expires.timestamp())
    if ca_expires is not None:
        CERT_EXPIRY.labels(project, namespace, "ca", "ca").set(ca_expires.timestamp())
    CERT_RENEWAL_WINDOW.labels(project, namespace).set(renew_before_days * 86400)
    CERT_RENEWING.labels(project, namespace).set(1 if renewing else 0)


def serve(port: int = DEFAULT_PORT, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose /metrics on `port` (a daemon thread; the chart's Service and ServiceMonitor scrape it)."""
    from prometheus_client import start_http_server

    start_http_server(port, registry=registry)
