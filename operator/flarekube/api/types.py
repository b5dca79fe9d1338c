"""Constrained scalar types shared by FLProject and FLJob.

Each type validates with a message that names the rule (the field path is added by
`flarekube.api.errors`) and carries the same rule into the JSON schema, so the CRD that is
generated from these models lets the API server enforce exactly what the CLI enforces.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from flarekube.api.errors import short

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# NVFlare's own rule for organisation names (nvflare.apis.utils.format_check): no hyphens, no dots.
NVFLARE_ORG = r"^[A-Za-z0-9_]+$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
# A DNS name (RFC 1123 subdomain): what NVFlare accepts as a server host name and TLS identity.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Kubernetes resource quantities, e.g. 500m, 2, 1.5, 4Gi, 512Mi.
QUANTITY = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_MAX = 64


def _dns_label(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(DNS1123_LABEL, value):
        raise ValueError(f'{short(value)} is not a DNS-1123 label (lower-case letters, digits, "-", at most 63)')
    return value


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN, value):
        raise ValueError(f'{short(value)} is not a DNS name (RFC 1123 subdomain)')
    return value


def _org(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(NVFLARE_ORG, value):
        raise ValueError(
            f'{short(value)} is not a valid NVFlare organisation name (letters, digits and "_", at most 63)'
        )
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not re.fullmatch(EMAIL, value):  # the length first: bounded regex time
        raise ValueError(f'{short(value)} is not an e-mail address (NVFlare admins are named by e-mail)')
    return value


def _quantity(value: str) -> str:
    if len(value) > QUANTITY_MAX or not re.fullmatch(QUANTITY, value):
        raise ValueError(f'{short(value)} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)')
    return value


def _cidr(value: str) -> str:
    try:
        if len(value) > 64 or "/" not in value:  # ip_network reads a bare address as /32: say the prefix
            raise ValueError(value)
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f'{short(value)} is not a CIDR block (e.g. 203.0.113.0/24)') from None
    return value


# IPv4 or IPv6 network in CIDR notation; the API server checks the shape, pydantic the exact rule.
CIDR_PATTERN = r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"
CIDR = Annotated[
    str,
    AfterValidator(_cidr),
    WithJsonSchema({"type": "string", "pattern": CIDR_PATTERN, "maxLength": 64, "x-kubernetes-validations": [
        # Kubernetes' CIDR library (1.31+): a network address with no host bits set, as ip_network(strict).
        {"rule": "isCIDR(self) && cidr(self).ip() == cidr(self).masked().ip()",
         "message": "not a CIDR block with no host bits set (e.g. 203.0.113.0/24)"},
    ]}),
]
DNSLabel = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema({"type": "string", "pattern": DNS1123_LABEL, "maxLength": 63}),
]
DNSName = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    WithJsonSchema({"type": "string", "pattern": DNS1123_SUBDOMAIN, "maxLength": 253}),
]
OrgName = Annotated[
    str,
    AfterValidator(_org),
    WithJsonSchema({"type": "string", "pattern": NVFLARE_ORG, "maxLength": 63}),
]
Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "pattern": EMAIL, "maxLength": 254}),
]
Quantity = Annotated[
    str,
    AfterValidator(_quantity),
    WithJsonSchema({"type": "string", "pattern": QUANTITY, "maxLength": QUANTITY_MAX}),
]
