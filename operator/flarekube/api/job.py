"""FLJob: one training run in an FLProject's federation.

The workload is either one of flarekube's own (built into an NVFlare job folder by
`flarekube.builders.jobfolder`) or ANY NVFlare job folder the user brings, run unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue, model_validator

from flarekube.api.common import ObjectMeta, SpecModel, cel, spec_config
from flarekube.api.types import DNSLabel

Scalar = str | int | float | bool
WorkloadKind = Literal["clinical-tabular", "chest-xray-cnn", "jobFolder"]
AlgorithmName = Literal["fedavg", "fedprox", "fedopt", "scaffold", "ditto"]


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


# Which algorithm each typed parameter belongs to: one table for the CEL rules and the pydantic check.
ALGORITHM_FIELDS: dict[str, tuple[str, str]] = {
    # python name: (wire name, algorithm)
    "mu": ("mu", "fedprox"),
    "server_optimizer": ("serverOptimizer", "fedopt"),
    "server_learning_rate": ("serverLearningRate", "fedopt"),
    "server_momentum": ("serverMomentum", "fedopt"),
    "ditto_lambda": ("lambda", "ditto"),
    "personal_epochs": ("personalEpochs", "ditto"),
}


def _only_for(wire: str, algorithm: str) -> dict[str, JsonValue]:
    return cel(f"!has(self.{wire}) || self.name == '{algorithm}'", f"{wire} applies only to {algorithm}", f".{wire}")


class AlgorithmSpec(SpecModel):
    """The federated algorithm and its typed parameters; each parameter belongs to one algorithm."""

    # One model with optional fields rather than a discriminated union: the CRD stays one flat schema, and
    # a parameter given to the wrong algorithm is refused by name (CEL here, the validator in pydantic).

    model_config = spec_config(
        *(_only_for(w, a) for w, a in ALGORITHM_FIELDS.values()),
        cel("!has(self.serverMomentum) || !has(self.serverOptimizer) || self.serverOptimizer == 'sgd'",
            "serverMomentum applies only to serverOptimizer sgd", ".serverMomentum"),
    )

    name: AlgorithmName = Field(
        default="fedavg", description="The algorithm: fedavg, fedprox, fedopt, scaffold (no parameters) or ditto."
    )
    mu: float | None = Field(
        default=None, ge=0, le=1000,
        description="fedprox: weight of the proximal term (mu/2)*||w - w_global||^2 (0: exactly FedAvg).",
    )  # fmt: skip
    server_optimizer: Literal["sgd", "adam"] | None = Field(
        default=None, description="fedopt: the server's optimizer over the averaged update (default sgd)."
    )
    server_learning_rate: float | None = Field(
        default=None, gt=0, le=100, description="fedopt: the server optimizer's learning rate (default 1.0)."
    )
    server_momentum: float | None = Field(
        default=None, ge=0, le=0.999, description="fedopt with sgd: the server's momentum (default 0)."
    )
    # `lambda` is a Python keyword: the field has another name here, the wire name is Ditto's own.
    ditto_lambda: float | None = Field(
        default=None, ge=0, le=1000, alias="lambda",
        description="ditto: weight of the personal model's proximal term towards the global one (default 0.1).",
    )  # fmt: skip
    personal_epochs: int | None = Field(
        default=None, ge=1, le=1000, description="ditto: epochs of the personal model per site and round (default 1)."
    )

    @model_validator(mode="after")
    def _params_belong(self) -> AlgorithmSpec:
        for attr, (wire, algorithm) in ALGORITHM_FIELDS.items():
            if getattr(self, attr) is not None and self.name != algorithm:
                raise ValueError(f"{wire} applies only to {algorithm}")
        if self.server_momentum is not None and self.server_optimizer == "adam":
            raise ValueError("serverMomentum applies only to serverOptimizer sgd")
        return self

    def is_default(self) -> bool:
        """Plain FedAvg with nothing set (what a jobFolder job may carry: the API server defaults it)."""
        return self.name == "fedavg" and all(getattr(self, a) is None for a in ALGORITHM_FIELDS)


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


JOB_FOLDER_ALGORITHM = (
    "a jobFolder job brings its own algorithm (its config_fed_server.json); spec.algorithm applies only to "
    "flarekube's workloads"
)

# NVFlare's FedOpt runs on ScatterAndGather and SCAFFOLD on its own Scaffold controller, not on FedAvg:
# flarekube's fault-tolerant FedAvg subclass (minResponses, roundTimeoutSeconds, round progress) applies to
# neither.
OWN_CONTROLLER = {
    "fedopt": "fedopt runs on NVFlare's ScatterAndGather, which waits for every site",
    "scaffold": "scaffold runs on NVFlare's Scaffold controller, which waits for every site",
}
FAULT_TOLERANT = "minResponses and roundTimeoutSeconds apply to fedavg, fedprox and ditto only"


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
            "self.workload.kind != 'jobFolder' || !has(self.algorithm) || (self.algorithm.name == 'fedavg' && "
            + " && ".join(f"!has(self.algorithm.{w})" for w, _ in ALGORITHM_FIELDS.values())
            + ")",
            JOB_FOLDER_ALGORITHM,
            ".algorithm",
        ),
        *(
            cel(
                f"!has(self.algorithm) || self.algorithm.name != '{name}' || !has(self.faultTolerance) || "
                "(!has(self.faultTolerance.minResponses) && self.faultTolerance.roundTimeoutSeconds == 0)",
                f"{reason}: {FAULT_TOLERANT}",
                ".faultTolerance",
            )
            for name, reason in OWN_CONTROLLER.items()
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
        if self.workload.kind == "jobFolder" and not self.algorithm.is_default():
            raise ValueError(f"algorithm: {JOB_FOLDER_ALGORITHM}")
        ft = self.fault_tolerance.min_responses
        own = OWN_CONTROLLER.get(self.algorithm.name)
        if own and (ft is not None or self.fault_tolerance.round_timeout_seconds):
            raise ValueError(f"faultTolerance: {own}: {FAULT_TOLERANT}")
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
