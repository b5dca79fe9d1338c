"""FLProject: who is in the federation, where the server listens, where each site's data lives.

The same document runs on one machine (`flarekube run`) and on a cluster (`kubectl apply`).
Cross-field rules are written twice on purpose: as a pydantic validator (CLI messages) and as the
CEL expression the CRD carries (API server messages) — `tests/unit/test_api_*` keep them in step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from flarekube.api.common import ObjectMeta, Resources, SpecModel, cel, spec_config
from flarekube.api.policy import ClassPath, SitePolicy
from flarekube.api.types import CIDR, DNSLabel, DNSName, Email, OrgName

DEFAULT_IMAGE = "flarekube/runtime:0.1.0"
# The operator's own admin identity (one per project, see FLProject.operator_admin). NVFlare names admins
# by e-mail address; this local part is reserved so no human admin can hold the operator's certificate name.
OPERATOR_ADMIN_USER = "flarekube-operator"
OPERATOR_ADMIN_DOMAIN = "flarekube.io"


# Transition rules (they compare with `oldSelf`) exist only in the CRD: pydantic validates one
# document and never sees the previous version, so on the CLI side these are deliberately no-ops. The
# operator's second line of defence is the kit store, which refuses to re-issue for a changed identity.
PROJECT_NAME_IMMUTABLE = cel(
    "(has(self.spec.projectName) ? self.spec.projectName : self.metadata.name) == "
    "(has(oldSelf.spec.projectName) ? oldSelf.spec.projectName : oldSelf.metadata.name)",
    "projectName is immutable: the root CA and every kit were issued for it",
    ".spec.projectName",
)
SERVER_HOST_IMMUTABLE = cel(
    "has(self.host) == has(oldSelf.host) && (!has(self.host) || self.host == oldSelf.host)",
    "host is immutable: it is the server's TLS identity in every issued kit",
    ".host",
)
RESERVED_ADMIN = cel(
    f"!self.lowerAscii().startsWith('{OPERATOR_ADMIN_USER}@')",
    f'"{OPERATOR_ADMIN_USER}@..." is reserved: it names the flarekube operator\'s admin',
)
SERVER_ORG_IMMUTABLE = cel("self == oldSelf", "org is immutable: it is part of the server's certificate")


class HostPathSource(SpecModel):
    """A directory on the node (single-node clusters, or data present on every node)."""

    # Absolute, and no `..` segment: the operator's allowedHostPaths prefix check must mean what it says.
    path: str = Field(
        pattern=r"^/$|^(/(\.\.[^/]+|\.[^./][^/]*|[^./][^/]*|\.))+/?$",
        description="Absolute directory on the node, without `..` segments; allowed only under the operator's "
        "allowedHostPaths (a chart value).",
    )


class PVCSource(SpecModel):
    """A PersistentVolumeClaim in the project's namespace, mounted read-only."""

    claim_name: DNSLabel = Field(description="Name of the PersistentVolumeClaim.")
    sub_path: str | None = Field(
        default=None, pattern=r"^[^/]", description="Relative path inside the claim."
    )


class DataSource(SpecModel):
    """Where a site's data lives. Exactly one of the three; the site sees it read-only at /data."""

    model_config = spec_config(
        cel(
            "[has(self.localPath), has(self.hostPath), has(self.pvc)].filter(x, x).size() == 1",
            "exactly one of localPath, hostPath or pvc must be set",
        )
    )

    local_path: str | None = Field(
        default=None, min_length=1, description="A folder on this machine (flarekube run only)."
    )
    host_path: HostPathSource | None = Field(default=None, description="A directory on the node.")
    pvc: PVCSource | None = Field(default=None, description="A PersistentVolumeClaim.")

    @model_validator(mode="after")
    def _exactly_one(self) -> DataSource:
        chosen = [n for n in ("local_path", "host_path", "pvc") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("exactly one of localPath, hostPath or pvc must be set")
        return self


class ServerSpec(SpecModel):
    """The NVFlare server: its name, TLS identity, ports and resources."""

    model_config = spec_config(SERVER_HOST_IMMUTABLE)

    name: DNSLabel = Field(default="server", description="Name of the server's objects (Service, pod).")
    host: DNSName | None = Field(
        default=None,
        description=(
            "The name sites dial and the server's TLS identity. Default: the Service DNS name in a "
            "cluster, `localhost` with flarekube run."
        ),
    )
    org: OrgName = Field(
        default="flarekube", json_schema_extra={"x-kubernetes-validations": [SERVER_ORG_IMMUTABLE]},
        description="The server's organisation (in its certificate; fixed once issued).",
    )
    fl_port: int = Field(default=8002, ge=1024, le=65535, description="Port the sites connect to (federated learning).")
    admin_port: int = Field(default=8003, ge=1024, le=65535, description="Port admin clients connect to.")
    resources: Resources = Field(default_factory=Resources, description="The server pod's requests and limits.")
    allowed_cidrs: list[CIDR] = Field(
        default_factory=list,
        max_length=50,
        description="Networks outside the cluster whose sites may reach the FL port (NetworkPolicy ipBlock).",
    )
    allow_components: list[ClassPath] = Field(
        default_factory=list,
        max_length=100,
        description=(
            "Class paths or prefixes added to the server's component allow-list (its local/resources.json), "
            "e.g. a jobFolder's model persistor; sites have their own, spec.sites[].policy.allowComponents."
        ),
    )


class SiteSpec(SpecModel):
    """One participant (a hospital's client): its identity, data and resources."""

    name: DNSLabel = Field(description="The site's NVFlare name (its certificate's name).")
    org: OrgName = Field(description="The site's organisation (NVFlare name rules: letters, digits, _).")
    resources: Resources = Field(default_factory=Resources, description="The site pod's requests and limits.")
    gpus: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu per site pod.")
    data: DataSource | None = Field(default=None, description="Where the site's data lives (seen at /data).")
    policy: SitePolicy = Field(
        default_factory=SitePolicy,
        description="The site's own rules, enforced by NVFlare at the site; changing them re-issues no certificate.",
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels the site pod must run on.")


class AdminSpec(SpecModel):
    """A human NVFlare admin (an admin kit is issued for each)."""

    email: Email = Field(
        description="The admin's NVFlare identity (its certificate's name).",
        json_schema_extra={"x-kubernetes-validations": [RESERVED_ADMIN]},
    )
    org: OrgName = Field(description="The admin's organisation.")
    role: Literal["project_admin", "org_admin", "lead", "member"] = Field(
        default="project_admin", description="NVFlare admin role: project_admin, org_admin, lead or member."
    )

    @field_validator("email")
    @classmethod
    def _not_the_operator(cls, email: str) -> str:
        if email.split("@", 1)[0].lower() == OPERATOR_ADMIN_USER:
            raise ValueError(f'"{OPERATOR_ADMIN_USER}@..." is reserved: it names the flarekube operator\'s admin')
        return email


MAX_CERT_VALIDITY_DAYS = 3650  # never beyond the root CA's own default lifetime (provisioning/model.py)


class CertificatesSpec(SpecModel):
    """Participant certificates: how long each lives, and how long before expiry it is renewed.

    Renewal (cert-manager's `renewBefore`): a certificate inside that window is re-issued with a fresh key
    under the same root CA, the old one is marked superseded in the ledger; nothing else is re-issued.
    """

    model_config = spec_config(
        cel(
            # has(): the API server also checks this rule on the CRD's `{}` default, before nested defaults
            # are filled in; an admitted object always has both (defaulting runs before validation).
            "!has(self.renewBeforeDays) || !has(self.validityDays) || self.renewBeforeDays < self.validityDays",
            "renewBeforeDays must be shorter than validityDays",
            ".renewBeforeDays",
        )
    )

    validity_days: int = Field(
        default=360, ge=2, le=MAX_CERT_VALIDITY_DAYS, description="Lifetime of each site/server/admin certificate."
    )
    renew_before_days: int = Field(
        default=30, ge=1, le=MAX_CERT_VALIDITY_DAYS - 1,
        description="Renew a certificate this many days before it expires (with a fresh key).",
    )

    @model_validator(mode="after")
    def _renew_inside_validity(self) -> CertificatesSpec:
        if self.renew_before_days >= self.validity_days:
            raise ValueError(
                f"renewBeforeDays ({self.renew_before_days}) must be shorter than validityDays ({self.validity_days})"
            )
        return self


class FLProjectSpec(SpecModel):
    """The federation's server, sites and admins."""

    model_config = spec_config(
        cel(
            "self.sites.all(a, self.sites.exists_one(b, b.name == a.name))",
            "site names must be unique",
            ".sites",
        ),
        cel(
            "!self.sites.exists(s, s.name == self.server.name)",
            "server.name must not be a site name",
            ".server.name",
        ),
        cel(
            "!has(self.admins) || self.admins.all(a, self.admins.exists_one(b, b.email == a.email))",
            "admin e-mails must be unique",
            ".admins",
        ),
    )

    project_name: DNSLabel | None = Field(
        default=None,
        description="NVFlare project name; fixed once kits are issued (default: metadata.name).",
    )
    server: ServerSpec = Field(default_factory=ServerSpec, description="The NVFlare server.")
    sites: list[SiteSpec] = Field(min_length=1, max_length=200, description="The participants (1 to 200).")
    admins: list[AdminSpec] = Field(
        default_factory=lambda: [AdminSpec(email="admin@flarekube.io", org="flarekube")],
        min_length=1,
        max_length=50,
        description="Human NVFlare admins (default: one project admin).",
    )
    image: str = Field(default=DEFAULT_IMAGE, min_length=1, pattern=r"^[^\s]+$",
                       description="Container image of the server and site pods.")
    job_runtime: Literal["process", "pod"] = Field(
        default="process", description="How a site runs a job: a process in its pod, or a pod of its own."
    )
    certificates: CertificatesSpec = Field(
        default_factory=CertificatesSpec, description="Certificate lifetime and renewal (fresh key, same root)."
    )

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: list[SiteSpec]) -> list[SiteSpec]:
        seen: set[str] = set()
        for site in sites:
            if site.name in seen:
                raise ValueError(f'site names must be unique: "{site.name}" appears twice')
            seen.add(site.name)
        return sites

    @field_validator("admins")
    @classmethod
    def _unique_admins(cls, admins: list[AdminSpec]) -> list[AdminSpec]:
        emails = [a.email for a in admins]
        if len(set(emails)) != len(emails):
            raise ValueError("admin e-mails must be unique")
        return admins

    @model_validator(mode="after")
    def _server_is_not_a_site(self) -> FLProjectSpec:
        if any(site.name == self.server.name for site in self.sites):
            raise ValueError(f'server.name "{self.server.name}" is also a site name')
        return self


class FLProject(SpecModel):
    """The federation: apiVersion flarekube.io/v1alpha1, kind FLProject."""

    model_config = spec_config(PROJECT_NAME_IMMUTABLE, alias_generator=None)

    api_version: Literal["flarekube.io/v1alpha1"] = Field(default="flarekube.io/v1alpha1", alias="apiVersion")
    kind: Literal["FLProject"] = "FLProject"
    metadata: ObjectMeta
    spec: FLProjectSpec
    status: dict[str, object] | None = Field(default=None, exclude=True)

    @property
    def project_name(self) -> str:
        return self.spec.project_name or self.metadata.name

    @property
    def operator_admin(self) -> str:
        """The operator's admin identity: it submits and follows every job (its jobs are scoped by this
        name) and may do nothing else (no shell, no operate: builders/sitelocal.py's OPERATOR_ROLE)."""
        return f"{OPERATOR_ADMIN_USER}@{self.metadata.name}.{OPERATOR_ADMIN_DOMAIN}"

    def site(self, name: str) -> SiteSpec:
        for site in self.spec.sites:
            if site.name == name:
                return site
        raise KeyError(name)
