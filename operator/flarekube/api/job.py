"""FLJob: one training run in an FLProject's federation.

The workload is either one of flarekube's own (built into an NVFlare job folder by
`flarekube.builders.jobfolder`) or ANY NVFlare job folder the user brings, run unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flarekube.api.common import ObjectMeta, SpecModel, cel, spec_config
from flarekube.api.types import DNSLabel

Scalar = str | int | float | bool
WorkloadKind = Literal["clinical-tabular", "chest-xray-cnn", "jobFolder"]
AlgorithmName = Literal["fedavg"]


class JobFolderSource(SpecModel):
    """A user's NVFlare job folder (e.g. written by FedJob.export_job). Exactly one source."""

    model_config = spec_config(
        cel("has(self.path) != has(self.configMap)", "exactly one of path or configMap must be set")
    )

    path: str | None = Field(
        default=None, min_length=1, description="A folder on this machine (flarekube run)."
    )
    config_map: DNSLabel | None = Field(default=None, description="A ConfigMap holding the folder (cluster).")

    @model_validator(mode="after")
    def _exactly_one(self) -> JobFolderSource:
        if (self.path is None) == (self.config_map is None):
            raise ValueError("exactly one of path or configMap must be set")
        return self


class WorkloadSpec(SpecModel):
    """What each site trains: a built-in workload, or a user's NVFlare job folder."""

    model_config = spec_config(
        cel(
            "(self.kind == 'jobFolder') == has(self.jobFolder)",
            "jobFolder must be set exactly when kind is jobFolder",
        )
    )

    kind: WorkloadKind = Field(description="clinical-tabular, chest-xray-cnn, or jobFolder (your own).")
    job_folder: JobFolderSource | None = Field(default=None, description="The job folder (kind jobFolder only).")
    local_epochs: int = Field(default=1, ge=1, le=1000, description="Epochs each site trains per round.")
    learning_rate: float = Field(default=1e-3, gt=0, le=10, description="The sites' optimiser learning rate.")
    batch_size: int = Field(default=32, ge=1, le=65536, description="Training batch size at each site.")
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="Workload-specific arguments, e.g. imageSize, layout, maxBatches."
    )

    @model_validator(mode="after")
    def _folder_iff_job_folder(self) -> WorkloadSpec:
        if (self.kind == "jobFolder") != (self.job_folder is not None):
            raise ValueError("jobFolder must be set exactly when kind is jobFolder")
        return self


class AlgorithmSpec(SpecModel):
    """The federated algorithm that combines the sites' results."""

    name: AlgorithmName = Field(default="fedavg", description="The algorithm (fedavg).")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Algorithm-specific arguments.")


class SiteFiles(SpecModel):
    """Per-site files, relative to the site's data source (the FLProject's sites[].data)."""

    train: str | None = Field(default=None, min_length=1, pattern=r"^[^/]", description="Training file.")
    test: str | None = Field(default=None, min_length=1, pattern=r"^[^/]", description="Validation file.")


class FaultTolerance(SpecModel):
    """What a round does when a site goes away mid-round (see docs/fault-tolerance.md)."""

    min_responses: int | None = Field(
        default=None, ge=1, le=200, description="Results a round needs (default: minSites)."
    )
    round_timeout_seconds: int = Field(
        default=0,
        ge=0,
        le=86400,
        description=(
            "Once minResponses results are in, wait this long for the rest before aggregating "
            "(0: aggregate at once). See docs/fault-tolerance.md."
        ),
    )


class FLJobSpec(SpecModel):
    """A training run: its project, workload, algorithm, rounds and sites."""

    model_config = spec_config(
        cel(
            "!has(self.sites) || self.minSites <= size(self.sites)",
            "minSites must be <= size(sites)",
            ".minSites",
        ),
        cel(
            "!has(self.sites) || self.sites.all(s, self.sites.exists_one(t, t == s))",
            "sites must be unique",
            ".sites",
        ),
        cel(
            "!has(self.faultTolerance) || !has(self.faultTolerance.minResponses) || "
            "self.faultTolerance.minResponses <= self.minSites",
            "faultTolerance.minResponses must be <= minSites",
            ".faultTolerance.minResponses",
        ),
    )

    project_ref: DNSLabel = Field(description="The FLProject (same namespace) this job runs in.")
    workload: WorkloadSpec = Field(description="What each site trains.")
    algorithm: AlgorithmSpec = Field(default_factory=AlgorithmSpec, description="The federated algorithm.")
    rounds: int = Field(ge=1, le=10000, description="Federated rounds to run.")
    min_sites: int = Field(default=1, ge=1, le=200, description="Sites that must take part for the job to start.")
    sites: list[DNSLabel] | None = Field(
        default=None, min_length=1, max_length=200, description="Default: every site."
    )
    data: dict[str, SiteFiles] = Field(default_factory=dict, description="Per-site files, by site name.")
    fault_tolerance: FaultTolerance = Field(default_factory=FaultTolerance, description="When sites drop out.")
    timeout_seconds: int = Field(default=3600, ge=10, le=7 * 86400, description="Abort the job after this.")
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="Random seed of every site (numpy and torch take 32 bits)."
    )

    @model_validator(mode="after")
    def _cross_fields(self) -> FLJobSpec:
        if self.sites is not None:
            if len(set(self.sites)) != len(self.sites):
                raise ValueError("sites must be unique")
            if self.min_sites > len(self.sites):
                raise ValueError(f"minSites ({self.min_sites}) must be <= size(sites) ({len(self.sites)})")
        ft = self.fault_tolerance.min_responses
        if ft is not None and ft > self.min_sites:
            raise ValueError(f"faultTolerance.minResponses ({ft}) must be <= minSites ({self.min_sites})")
        return self


class FLJob(SpecModel):
    """A training run: apiVersion flarekube.io/v1alpha1, kind FLJob."""

    model_config = spec_config(alias_generator=None)

    api_version: Literal["flarekube.io/v1alpha1"] = Field(default="flarekube.io/v1alpha1", alias="apiVersion")
    kind: Literal["FLJob"] = "FLJob"
    metadata: ObjectMeta
    spec: FLJobSpec
    status: dict[str, object] | None = Field(default=None, exclude=True)
