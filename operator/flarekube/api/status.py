"""What the operator writes into `.status` of FLProject and FLJob (the CRDs' status schema comes from here).

Every field is optional: status is recomputed from what is observed and written as a whole, and a
fresh object has none. The CRDs keep unknown status fields (`x-kubernetes-preserve-unknown-fields`)
so that a field added here before the chart's CRDs are re-applied is not silently pruned.
Times are RFC 3339 strings (`2026-11-23T06:00:00Z`), as Kubernetes writes them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Condition(StatusModel):
    """A Kubernetes-style condition, e.g. type=Ready status=False reason=SitesNotConnected."""

    # Bounds as metav1.Condition's, so a long spec error in a message is still a valid status.
    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=32768)
    last_transition_time: str | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class SiteStatus(StatusModel):
    name: str
    connected: bool = False
    pod_phase: str | None = Field(
        default=None, description="Phase of the site's pod (Pending, Running, ...)."
    )
    cert_expires: str | None = Field(default=None, description="Expiry of the site's certificate.")


class FLProjectStatus(StatusModel):
    phase: str | None = Field(default=None, description="Pending, Provisioning, Ready, Degraded or Failed.")
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(default_factory=list)
    sites: list[SiteStatus] = Field(default_factory=list)
    sites_connected: int | None = Field(default=None, ge=0)
    sites_total: int | None = Field(default=None, ge=0)
    sites_summary: str | None = Field(default=None, description='Connected/total sites, e.g. "3/4".')
    server_endpoint: str | None = Field(default=None, description="host:port the sites dial.")
    ca_expires: str | None = Field(default=None, description="Expiry of the project's root CA.")
    ca_fingerprint: str | None = Field(default=None, description="SHA-256 fingerprint of the root CA.")


class FLJobStatus(StatusModel):
    phase: str | None = Field(
        default=None, description="Pending, Submitted, Running, Succeeded, Failed or Aborted."
    )
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(default_factory=list)
    job_id: str | None = Field(default=None, description="The NVFlare job id.")
    start_time: str | None = Field(
        default=None, max_length=64, description="When the job was submitted (RFC 3339); timeoutSeconds counts from it."
    )
    nvflare_status: str | None = Field(default=None, description="NVFlare's run status, e.g. RUNNING.")
    round: int | None = Field(default=None, ge=0, description="Rounds completed.")
    rounds: int | None = Field(default=None, ge=0)
    round_summary: str | None = Field(default=None, description='Completed/total rounds, e.g. "7/10".')
    metrics: dict[str, float] = Field(default_factory=dict, description="Latest global metrics by name.")
    metric: str | None = Field(
        default=None, description="Latest global validation AUC, formatted for printing."
    )
    message: str | None = Field(default=None, max_length=32768)
