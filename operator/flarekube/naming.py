"""The one place Kubernetes names and labels are minted for a project's objects.

Names are DNS-1123 labels (<= 63 characters). When a readable name would be too long, or a
participant name is not a label (admins are e-mail addresses), a stable hash suffix keeps it unique:
the same input always yields the same name, so a restarted operator finds what it created.
"""

from __future__ import annotations

import hashlib
import re

GROUP = "flarekube.io"
MANAGED_BY = "flarekube-operator"
FIELD_MANAGER = "flarekube"

LABEL_PROJECT = f"{GROUP}/project"
LABEL_COMPONENT = f"{GROUP}/component"
LABEL_SITE = f"{GROUP}/site"
LABEL_PARTICIPANT = f"{GROUP}/participant"
LABEL_KIND = f"{GROUP}/kit-kind"
ANNOTATION_PARTICIPANT = f"{GROUP}/participant"  # the exact NVFlare name (labels cannot hold "@")
ANNOTATION_FINGERPRINT = f"{GROUP}/issued-for"
ANNOTATION_LOCAL_CONFIG = f"{GROUP}/local-config"  # digest of the rendered local/: a change rolls the pod
ANNOTATION_CERTIFICATE = f"{GROUP}/certificate-sha256"  # the kit's certificate: a renewal rolls the pod
ANNOTATION_CONNECTION = f"{GROUP}/connection-config"  # digest of the rendered startup/fed_*.json (ports)

CA_FINALIZER = f"{GROUP}/ca-protection"

COMPONENT_SERVER = "server"
COMPONENT_SITE = "site"
COMPONENT_KIT = "kit"
COMPONENT_CA = "ca"
COMPONENT_LOCAL_CONFIG = "local-config"  # a participant's rendered local/ (builders/localconfig.py)
COMPONENT_CONNECTION = "connection-config"  # a participant's rendered connection file (same module)

MAX_LABEL = 63
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def _hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def label_safe(*parts: str) -> str:
    """Join parts with '-' into a DNS-1123 label; too long or not a label -> cut + hash of the input."""
    raw = "-".join(parts)
    slug = _NOT_LABEL.sub("-", raw.lower()).strip("-") or "x"
    if slug == raw and len(slug) <= MAX_LABEL:
        return slug
    suffix = _hash(raw)
    return f"{slug[: MAX_LABEL - len(suffix) - 1].rstrip('-')}-{suffix}"


def server(project: str, server_name: str = "server") -> str:
    """Server Deployment, Service and the host part of its DNS name."""
    return label_safe(project, server_name)


def server_pvc(project: str, server_name: str = "server") -> str:
    return label_safe(project, server_name, "workspace")


def server_host(project: str, namespace: str, server_name: str = "server") -> str:
    """The name sites dial and the server's TLS identity: its Service's cluster DNS name."""
    return f"{server(project, server_name)}.{namespace}.svc.cluster.local"


def site(project: str, site_name: str) -> str:
    return label_safe(project, site_name)


def ca_secret(project: str) -> str:
    return label_safe(project, "ca")


def ledger_secret(project: str) -> str:
    """The certificate ledger (provisioning/ledger.py): kept beside the CA Secret, mutable."""
    return label_safe(project, "ledger")


def kit_secret(project: str, participant: str) -> str:
    return label_safe(project, "kit", participant)


def local_config(project: str, participant: str) -> str:
    """The ConfigMap holding a participant's rendered local/ (its policy): apart from its kit Secret."""
    return label_safe(project, "local", participant)


def connection_config(project: str, participant: str) -> str:
    """The ConfigMap holding a participant's rendered startup/fed_*.json (the server's ports): not identity."""
    return label_safe(project, "connection", participant)


def netpol(project: str, what: str) -> str:
    return label_safe(project, what)


def project_labels(project: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/part-of": "flarekube",
            LABEL_PROJECT: label_safe(project)}  # fmt: skip


def server_labels(project: str) -> dict[str, str]:
    return project_labels(project) | {LABEL_COMPONENT: COMPONENT_SERVER}


def site_labels(project: str, site_name: str) -> dict[str, str]:
    return project_labels(project) | {LABEL_COMPONENT: COMPONENT_SITE, LABEL_SITE: site_name}


def kit_labels(project: str, participant: str, kind: str) -> dict[str, str]:
    return project_labels(project) | {
        LABEL_COMPONENT: COMPONENT_KIT,
        LABEL_PARTICIPANT: label_safe(participant),
        LABEL_KIND: kind,
    }


def ca_labels(project: str) -> dict[str, str]:
    return project_labels(project) | {LABEL_COMPONENT: COMPONENT_CA}


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
