"""A hospital's own rules for its site (`spec.sites[].policy`), enforced by NVFlare at that site.

flarekube renders them into the site's `local/` folder in NVFlare's own formats (authorization.json,
resources.json, privacy.json: `builders/sitelocal.py`). They are site configuration, not identity: no
certificate depends on them, so a change re-renders and restarts the site and re-issues nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from flarekube.api.common import SpecModel, cel, spec_config
from flarekube.api.types import OrgName

# NVFlare's admin roles (nvflare.lighter.constants.DEFINED_ROLES).
AdminRole = Literal["project_admin", "org_admin", "lead", "member"]
# NVFlare's own default: project admins and leads submit jobs, org admins and members do not.
DEFAULT_SUBMITTER_ROLES: tuple[AdminRole, ...] = ("project_admin", "lead")
# A dotted Python class path or prefix ("my_pkg." or "my_pkg.filters.MyFilter").
CLASS_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.?$"
ClassPath = Annotated[str, Field(pattern=CLASS_PATH, max_length=300)]
LayerName = Annotated[str, Field(pattern=r"^\S+$", max_length=300)]


class SubmitterPolicy(SpecModel):
    """Who may run jobs on this site. NVFlare checks it when the server deploys a job here."""

    roles: list[AdminRole] = Field(
        default_factory=lambda: list(DEFAULT_SUBMITTER_ROLES),
        max_length=4,
        description="Admin roles that may submit jobs to this site (NVFlare's right submit_job).",
    )
    orgs: list[OrgName] = Field(
        default_factory=list,
        max_length=50,
        description="Only admins of these organisations may submit; empty: any organisation.",
    )
    operator: bool = Field(
        default=True,
        description="The flarekube operator's own admin identity may submit (it submits every FLJob).",
    )


class TopPercent(SpecModel):
    """Share only the largest k% of weight changes (NVFlare's PercentilePrivacy), each clipped to gamma."""

    percent: int = Field(ge=1, le=99, description="k: the share of weight changes (by size) that leave the site.")
    gamma: float = Field(default=1.0, gt=0, le=1000, description="Upper limit of each shared change's magnitude.")


class Noise(SpecModel):
    """Sparse vector technique differential privacy (NVFlare's SVTPrivacy) on the weight changes."""

    fraction: float = Field(default=0.1, gt=0, le=1, description="Share of the weight changes released.")
    epsilon: float = Field(default=0.1, gt=0, le=100, description="Privacy budget.")
    noise_var: float = Field(default=0.1, gt=0, le=100, description="Variance of the added noise.")
    gamma: float = Field(default=1e-5, gt=0, le=1000, description="Clipping bound of each released change.")
    tau: float = Field(default=1e-6, ge=0, le=1000, description="Threshold below which changes are not released.")


class PrivacySpec(SpecModel):
    """This site's one privacy scope (its default): every job gets these filters, whatever it asks for."""

    top_percent: TopPercent | None = None
    noise: Noise | None = None
    exclude_layers: list[LayerName] = Field(
        default_factory=list,
        max_length=200,
        description="Model variables (by name) that never leave the site (NVFlare's ExcludeVars).",
    )
    share_local_model: bool = Field(
        default=False,
        description="Whether cross-site evaluation may ship this site's locally trained model to others.",
    )

    @property
    def has_filters(self) -> bool:
        """True when the site filters its model results at all (sparsify, noise or withheld layers)."""
        return self.filters_updates or bool(self.exclude_layers)

    @property
    def filters_updates(self) -> bool:
        """True when the site changes what it sends (sparsifies or adds noise): sites then send differences."""
        return self.top_percent is not None or self.noise is not None


class SitePolicy(SpecModel):
    model_config = spec_config(
        cel(
            "!has(self.privacy) || !has(self.privacy.topPercent) || !has(self.privacy.noise)",
            "choose one of privacy.topPercent or privacy.noise: both filters would compound",
            ".privacy",
        )
    )

    submitters: SubmitterPolicy = Field(default_factory=SubmitterPolicy)
    custom_code: Literal["allow", "deny"] = Field(
        default="deny",
        description=(
            "Jobs that bring their own code (a custom/ folder, NVFlare's right byoc). flarekube's built-in "
            "workloads run from the installed package and are not custom code."
        ),
    )
    shell_commands: Literal["allow", "deny"] = Field(
        default="deny", description="NVFlare's shell commands (ls, cat, ... on the site) for its submitters."
    )
    allow_components: list[ClassPath] = Field(
        default_factory=list,
        max_length=100,
        description="Class paths or prefixes added to NVFlare's component allow-list (local/resources.json).",
    )
    privacy: PrivacySpec = Field(default_factory=PrivacySpec)

    @model_validator(mode="after")
    def _one_update_filter(self) -> SitePolicy:
        if self.privacy.top_percent is not None and self.privacy.noise is not None:
            raise ValueError("choose one of privacy.topPercent or privacy.noise: both filters would compound")
        return self
