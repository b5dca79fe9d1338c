"""Pieces both resources share: the Kubernetes-style envelope and resource requirements."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr, field_validator
from pydantic.alias_generators import to_camel

from flarekube.api.errors import short
from flarekube.api.types import DNS1123_SUBDOMAIN, DNSLabel, Quantity

API_GROUP = "flarekube.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"


class SpecModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected (typos are errors).

    Held to what the API server accepts for the generated CRD (kubectl's strict field validation):
    - strict types: `gpus: "2"`, `flPort: true`, `enabled: "yes"` are refused, not coerced (an integer is
      still accepted for a number: JSON has one number type);
    - only the camelCase names (`fl_port` is an unknown field there, so it is one here);
    - no NaN or infinity (JSON has neither).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
        strict=True,
        allow_inf_nan=False,
    )


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, JsonValue]:
    """One `x-kubernetes-validations` entry: the API server evaluates it, the CRD carries it.

    `field_path` makes the API server's message name the field (e.g. `.minSites`), not the object.
    """
    out: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def spec_config(*rules: dict[str, JsonValue], **overrides: object) -> ConfigDict:
    """SpecModel's config plus CEL rules for the generated CRD (pydantic checks the same in a validator)."""
    config: dict[str, object] = {**SpecModel.model_config, **overrides}
    if rules:
        config["json_schema_extra"] = {"x-kubernetes-validations": list(rules)}
    return ConfigDict(**config)  # type: ignore[typeddict-item]


# Kubernetes' own metadata rules (apimachinery validation: IsQualifiedName, IsValidLabelValue,
# ValidateAnnotations), so a label or annotation the API server refuses is refused here too.
_NAME_PART = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
ANNOTATIONS_MAX_BYTES = 256 * 1024


def qualified_name_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN, prefix)):
        return f"{short(key)}: the prefix must be a lower-case DNS name (RFC 1123 subdomain, at most 253)"
    if len(name) > 63 or not re.fullmatch(_NAME_PART, name):
        return (f"{short(key)}: the name part must be at most 63 letters, digits, '-', '_' or '.', starting "
                "and ending with a letter or digit")  # fmt: skip
    return None


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        problem = qualified_name_problem(key)
        if problem is None and value and (len(value) > 63 or not re.fullmatch(_NAME_PART, value)):
            problem = (f"{short(key)}: the value {short(value)} must be empty or at most 63 letters, digits, "
                       "'-', '_' or '.', starting and ending with a letter or digit")  # fmt: skip
        if problem:
            raise ValueError(f"not a valid Kubernetes label: {problem}")
    return labels


def check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    for key in annotations:
        problem = qualified_name_problem(key.lower())
        if problem:
            raise ValueError(f"not a valid Kubernetes annotation key: {problem}")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        raise ValueError(f"annotations are {size} bytes; Kubernetes allows at most {ANNOTATIONS_MAX_BYTES}")
    return annotations


class ObjectMeta(BaseModel):
    """Kubernetes ObjectMeta: what flarekube reads, typed; what the API server sets, accepted as it comes.

    Unknown keys are refused, as kubectl's strict field validation refuses them (`metadata.nmae` is a
    typo, not something to ignore). The operator receives every server-set field listed here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: DNSLabel
    namespace: str | None = None
    labels: dict[str, StrictStr] = Field(default_factory=dict)
    annotations: dict[str, StrictStr] = Field(default_factory=dict)
    # Set by the API server (or by a client that knows what it is doing); flarekube does not read them.
    generate_name: str | None = Field(default=None, alias="generateName")
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")
    deletion_grace_period_seconds: int | None = Field(default=None, alias="deletionGracePeriodSeconds")
    self_link: str | None = Field(default=None, alias="selfLink")
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[dict[str, JsonValue]] = Field(default_factory=list, alias="ownerReferences")
    managed_fields: list[dict[str, JsonValue]] = Field(default_factory=list, alias="managedFields")

    _labels = field_validator("labels")(check_labels)
    _annotations = field_validator("annotations")(check_annotations)


class ResourceList(SpecModel):
    cpu: Quantity | None = Field(default=None, description="CPU, e.g. 500m or 2.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. 512Mi or 4Gi.")


class Resources(SpecModel):
    """Pod requests and limits (ignored by `flarekube run`, applied to every pod by the operator)."""

    requests: ResourceList = Field(default_factory=ResourceList, description="What the pod is guaranteed.")
    limits: ResourceList = Field(default_factory=ResourceList, description="The most the pod may use.")

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for part in ("requests", "limits"):
            values = getattr(self, part).model_dump(exclude_none=True)
            if values:
                out[part] = values
        return out
