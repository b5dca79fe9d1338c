"""What the operator writes into `.status` of FLProject and FLJob (the CRDs' status schema comes from here).

Every field is optional: status is recomputed from what is observed and written as a whole, and a
fresh object has none. The CRDs keep unknown status fields (`x-kubernetes-preserve-unknown-fields`)
so that a field added here before the chart's CRDs are re-applied is not silently pruned.
Times are RFC 3339 strings (`2026-11-23T06:00:00Z`), as Kubernetes writes them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

ProjectPhase = Literal["Pending", "Provisioning", "Ready", "Degraded", "Failed"]
JobPhase = Literal["Pending", "Submitted", "Running", "Succeeded", "Failed", "Aborted"]
ConditionStatus = Literal["True", "False", "Unknown"]
JOB_PHASES: tuple[JobPhase, ...] = ("Pending", "Submitted", "Running", "Succeeded", "Failed", "Aborted")
TERMINAL_JOB_PHASES: tuple[JobPhase, ...] = ("Succeeded", "Failed", "Aborted")

S = TypeVar("S", bound="StatusModel")


class StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        """The status as the API server stores it: camelCase, no nulls (a stored status never holds them,
        so a status with nulls would never compare equal to the stored one)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def stored(cls: type[S], body: dict[str, Any]) -> S:
        """The status stored on a custom resource `body`, typed. One that does not fit the model (written
        by another version) counts as none: only its transition times are lost, and the next write
        replaces it."""
        try:
            return cls.model_validate(body.get("status") or {})
        except ValidationError:
            return cls()


class Condition(StatusModel):
    """A Kubernetes-style condition, e.g. type=Ready status=False reason=SitesNotConnected."""

    # Bounds as metav1.Condition's, so a long spec error in a message is still a valid status.
    type: str = Field(max_length=316, description="The condition, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str | None = Field(default=None, max_length=1024, description="Why, in one CamelCase word.")
    message: str | None = Field(default=None, max_length=32768, description="Why, for people.")
    last_transition_time: str | None = Field(default=None, description="When the status last changed.")
    observed_generation: int | None = Field(default=None, ge=0, description="The generation it was computed for.")

    @property
    def ok(self) -> bool:
        return self.status == "True"


class SiteStatus(StatusModel):
    name: str = Field(description="The site.")
    connected: bool = Field(default=False, description="Whether the site is connected to the server.")
    pod_phase: str | None = Field(
        default=None, description="Phase of the site's pod (Pending, Running, ...)."
    )
    cert_expires: str | None = Field(default=None, description="Expiry of the site's certificate.")


class FLProjectStatus(StatusModel):
    phase: ProjectPhase | None = Field(default=None, description="Pending, Provisioning, Ready, Degraded or Failed.")
    observed_generation: int | None = Field(default=None, ge=0, description="The spec generation last acted on.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready and the conditions behind it.")
    sites: list[SiteStatus] = Field(default_factory=list, description="Each site's state.")
    sites_connected: int | None = Field(default=None, ge=0, description="Sites connected.")
    sites_total: int | None = Field(default=None, ge=0, description="Sites declared.")
    sites_summary: str | None = Field(default=None, description='Connected/total sites, e.g. "3/4".')
    server_endpoint: str | None = Field(default=None, description="host:port the sites dial.")
    ca_expires: str | None = Field(default=None, description="Expiry of the project's root CA.")
    ca_fingerprint: str | None = Field(default=None, description="SHA-256 fingerprint of the root CA.")
    certs_expire: str | None = Field(default=None, description="Earliest expiry of a participant certificate.")


class JobSiteStatus(StatusModel):
    """What one site did with the job: the policy it applied, or why it refused the job."""

    name: str = Field(description="The site (an FLProject sites[].name).")
    policy: str | None = Field(
        default=None, description="Digest of the site's rendered local/ policy (the FLProject's sites[].policy)."
    )
    refused: str | None = Field(
        default=None, max_length=1024, description="Why the site refused to run the job (NVFlare's reason)."
    )


class FLJobStatus(StatusModel):
    phase: JobPhase | None = Field(
        default=None, description="Pending, Submitted, Running, Succeeded, Failed or Aborted."
    )
    observed_generation: int | None = Field(default=None, ge=0, description="The spec generation last acted on.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready and the conditions behind it.")
    job_id: str | None = Field(default=None, description="The NVFlare job id.")
    start_time: str | None = Field(
        default=None, max_length=64, description="When the job was submitted (RFC 3339); timeoutSeconds counts from it."
    )
    nvflare_status: str | None = Field(default=None, description="NVFlare's run status, e.g. RUNNING.")
    round: int | None = Field(default=None, ge=0, description="Rounds completed.")
    rounds: int | None = Field(default=None, ge=0, description="Rounds asked for.")
    round_summary: str | None = Field(default=None, description='Completed/total rounds, e.g. "7/10".')
    metrics: dict[str, float] = Field(default_factory=dict, description="Latest global metrics by name.")
    metric: str | None = Field(
        default=None, description="Latest global validation AUC, formatted for printing."
    )
    sites: list[JobSiteStatus] = Field(
        default_factory=list, description="Each site of the job: the policy it applied, or why it refused."
    )
    message: str | None = Field(default=None, max_length=32768, description="What happened, for people.")
