"""Pieces both resources share: the Kubernetes-style envelope and resource requirements."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from flarekube.api.types import DNSLabel, Quantity

API_GROUP = "flarekube.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"


class SpecModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected (typos are errors)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
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


class ObjectMeta(BaseModel):
    """The part of Kubernetes metadata flarekube reads; the rest is kept but ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: DNSLabel
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ResourceList(SpecModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(SpecModel):
    """Pod requests and limits (ignored by `flarekube run`, applied to every pod by the operator)."""

    requests: ResourceList = Field(default_factory=ResourceList)
    limits: ResourceList = Field(default_factory=ResourceList)

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for part in ("requests", "limits"):
            values = getattr(self, part).model_dump(exclude_none=True)
            if values:
                out[part] = values
        return out
