"""Render the FLProject and FLJob CRDs from the pydantic models in `flarekube.api` (one source of truth).

pydantic writes JSON Schema (2020-12); the API server wants a *structural* OpenAPI v3 schema. The
conversion is mechanical: `$ref`s inlined, `X | None` becomes X (optional = not required; no
`nullable`, so `null` is rejected like any other wrong type), titles dropped, `const` becomes a one-value
`enum`, the 2020-12 numeric `exclusiveMinimum` becomes the OpenAPI 3.0 boolean form, and
`additionalProperties: false` is dropped (structural schemas prune unknown fields instead, and
`kubectl` — field validation Strict — turns them into errors). Descriptions, defaults, enums, patterns,
bounds and the models' `x-kubernetes-validations` (CEL) pass through unchanged; nested models built by
a `default_factory` get `default: {}` so that the API server stores the same effective spec as pydantic
reads. The status schema comes from `flarekube.api.status` and keeps unknown fields.

    python -m flarekube.crd --write   # or: flarekube crds      (rewrites charts/flarekube/crds/)
    python -m flarekube.crd --check   # exit 1 when the chart's files differ from the models
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from flarekube.api.common import API_GROUP, API_VERSION, SpecModel
from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.api.status import FLJobStatus, FLProjectStatus, StatusModel
from flarekube.api.types import DNS1123_LABEL

Schema = dict[str, Any]

CHART_CRDS = Path(__file__).resolve().parents[2] / "charts" / "flarekube" / "crds"
REGENERATE = "make crds  (or: flarekube crds --out charts/flarekube/crds)"
HEADER = (
    "# Generated from operator/flarekube/api by `flarekube crds` - do not edit by hand;\n"
    "# tests/unit/test_crd.py fails when this file and the models drift apart.\n"
)

# Keys that a structural schema keeps as they are (value validations and Kubernetes extensions).
_PASS_THROUGH = {
    "type", "description", "enum", "pattern", "format", "minimum", "maximum", "exclusiveMaximum",
    "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "uniqueItems",
    "multipleOf", "required",
}  # fmt: skip
_DROP = {"title", "additionalProperties", "$defs", "anyOf", "allOf", "$ref", "const", "exclusiveMinimum"}

# Root-level rule: the API server only checks that names are DNS subdomains, but every flarekube
# object name becomes part of Service, Secret and Deployment names, which must be DNS-1123 labels.
METADATA_NAME_RULE = {
    "rule": f"size(self.metadata.name) <= 63 && self.metadata.name.matches('{DNS1123_LABEL}')",
    "message": "metadata.name must be a DNS-1123 label (lower-case letters, digits, '-', at most 63)",
    # No fieldPath: the API server accepts only paths into the schema, and metadata has none.
}


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline `$ref` (keeping the referring node's own keys, e.g. a field description, on top)."""
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _collapse_optional(node: Schema, defs: dict[str, Schema]) -> Schema:
    """`anyOf: [X, {type: null}]` -> X; a union of scalar types -> any value but a non-empty map or list."""
    branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    if len(branches) == 1:
        return {**_resolve(branches[0], defs), **outer}
    if len(branches) > 1:
        types = {str(_resolve(b, defs).get("type")) for b in branches}
        if not types <= {"string", "integer", "number", "boolean"}:
            raise ValueError(f"unions of non-scalar types have no structural schema: {types}")
        # A structural schema has exactly one type, and CEL cannot type-check an untyped value, so a
        # scalar union (a dict[str, Scalar] value such as workload.params.imageSize) is "any value" to
        # the schema, bounded by `maxProperties: 0` / `maxItems: 0`: these constrain only maps and
        # lists, so a non-empty map or list is rejected by the API server while every scalar passes.
        # An empty map or list gets through to the operator, whose pydantic check rejects it.
        kinds = ", ".join(sorted(types))
        return {"description": f"A scalar ({kinds}).", **outer, "x-kubernetes-preserve-unknown-fields": True,
                "maxProperties": 0, "maxItems": 0}  # fmt: skip
    return outer



def structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """One pydantic JSON-Schema node -> one structural OpenAPI v3 node (recursively)."""
    node = _collapse_optional(_resolve(node, defs), defs)
    if "allOf" in node and len(node["allOf"]) == 1:  # older pydantic: a $ref with siblings
        node = {**_resolve(node["allOf"][0], defs), **{k: v for k, v in node.items() if k != "allOf"}}
    out: Schema = {k: copy.deepcopy(v) for k, v in node.items() if k in _PASS_THROUGH}
    if "const" in node:
        out["enum"] = [node["const"]]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(node["exclusiveMinimum"], bool):
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if node.get("default") is not None:
        out["default"] = copy.deepcopy(node["default"])
    if "properties" in node:
        out["properties"] = {name: structural(sub, defs) for name, sub in node["properties"].items()}
        out["type"] = "object"
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(node["additionalProperties"], defs)
        out["type"] = "object"
    if "items" in node:
        out["items"] = structural(node["items"], defs)
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)
    unknown = set(node) - _PASS_THROUGH - _DROP - {"properties", "items", "default"}
    unknown = {k for k in unknown if not k.startswith("x-kubernetes-")}
    if unknown:
        raise ValueError(f"no structural equivalent for JSON-Schema keys {sorted(unknown)}")
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise ValueError(f"schema node without a type: {node}")
    return out


def _spec_model(annotation: Any) -> type[SpecModel] | None:
    """The SpecModel inside `M`, `M | None`, `list[M]` or `dict[str, M]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, SpecModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _spec_model(arg)
        if found is not None:
            return found
    return None


def _built_by_factory(factory: object, model: type[SpecModel]) -> bool:
    return factory is model


def _defaults_something(model: type[SpecModel]) -> bool:
    """Whether `{}` of this model gains a value from defaulting (else `default: {}` is only noise)."""
    for field in model.model_fields.values():
        if field.default is not None and not field.is_required() and field.default_factory is None:
            return True
        nested = _spec_model(field.annotation)
        if nested is not None and _built_by_factory(field.default_factory, nested) and _defaults_something(nested):
            return True
    return False


def _object_defaults(model: type[SpecModel], schema: Schema) -> None:
    """`default: {}` for nested models built by `default_factory` (server, algorithm, faultTolerance...).

    pydantic leaves factory defaults out of JSON Schema; without them an omitted `server` would have no
    `server.name` for CEL to compare with. The API server applies nested defaults inside `{}`, so the
    stored object shows the same effective spec that pydantic computes.
    """
    for name, field in model.model_fields.items():
        sub = schema.get("properties", {}).get(field.alias or name)
        nested = _spec_model(field.annotation)
        if sub is None or nested is None:
            continue
        if _built_by_factory(field.default_factory, nested) and _defaults_something(nested):
            sub["default"] = {}
        target = sub.get("items") or sub.get("additionalProperties") if "properties" not in sub else sub
        if isinstance(target, dict) and "properties" in target:
            _object_defaults(nested, target)


_ORDER = ["type", "description", "default", "enum", "format", "pattern", "minimum", "exclusiveMinimum",
          "maximum", "minLength", "maxLength", "minItems", "maxItems", "required"]  # fmt: skip


def ordered(node: Any) -> Any:
    """A stable, readable key order (type and description first, rules last) for the generated YAML."""
    if isinstance(node, list):
        return [ordered(v) for v in node]
    if not isinstance(node, dict):
        return node
    rank = {k: i for i, k in enumerate(_ORDER)}
    keys = sorted(node, key=lambda k: (2, k) if k.startswith("x-kubernetes-") else (0, rank.get(k, 99), k))
    if "rule" in node:  # a CEL rule reads best as rule, message, fieldPath
        keys = [k for k in ("rule", "message", "fieldPath", "reason") if k in node]
    out = {k: ordered(node[k]) for k in keys}
    if isinstance(node.get("properties"), dict):  # fields stay in the models' order
        out["properties"] = {name: ordered(sub) for name, sub in node["properties"].items()}
    return out


def model_schema(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = structural(raw, raw.get("$defs", {}))
    if issubclass(model, SpecModel):
        _object_defaults(model, schema)
    result: Schema = ordered(schema)
    return result


def status_schema(model: type[StatusModel]) -> Schema:
    schema = {"description": "Observed state, written by the operator (read-only for users).", **model_schema(model)}
    # Unknown status fields are kept, not pruned: an operator that writes a field this schema does not
    # list yet (a newer operator, an older CRD) must not lose it silently.
    schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def resource_schema(model: type[FLProject] | type[FLJob], status: type[StatusModel]) -> Schema:
    spec_field = model.model_fields["spec"]
    spec_type = spec_field.annotation
    assert isinstance(spec_type, type) and issubclass(spec_type, SpecModel)
    root = model.model_json_schema(by_alias=True, mode="validation")
    rules = [METADATA_NAME_RULE, *root.get("x-kubernetes-validations", [])]
    return {
        "type": "object",
        "description": (model.__doc__ or "").strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": f"The versioned schema: {API_GROUP}/{API_VERSION}."},
            "kind": {"type": "string", "description": f"The REST resource this object represents: {model.__name__}."},
            "metadata": {"type": "object"},  # the API server owns its schema (and kubectl explain's text)
            "spec": model_schema(spec_type),
            "status": status_schema(status),
        },
        "x-kubernetes-validations": rules,
    }


def _column(name: str, path: str, description: str, kind: str = "string") -> dict[str, str]:
    return {"name": name, "type": kind, "jsonPath": path, "description": description}


AGE = _column("Age", ".metadata.creationTimestamp", "Time since the object was created.", "date")
PROJECT_COLUMNS = [
    _column("Phase", ".status.phase", "Pending, Provisioning, Ready, Degraded or Failed."),
    _column("Sites", ".status.sitesSummary", "Sites connected / sites declared."),
    _column("Server", ".status.serverEndpoint", "The endpoint sites dial (host:port)."),
    _column("CA-Expires", ".status.caExpires", "Expiry of the project's root CA."),
    _column("Certs-Expire", ".status.certsExpire", "Earliest expiry of a participant certificate."),
    AGE,
]
JOB_COLUMNS = [
    _column("Project", ".spec.projectRef", "The FLProject this job runs in."),
    _column("Algorithm", ".spec.algorithm.name", "The federated algorithm."),
    _column("Round", ".status.roundSummary", "Rounds completed / rounds asked for."),
    _column("Phase", ".status.phase", "Pending, Submitted, Running, Succeeded, Failed or Aborted."),
    _column("Metric", ".status.metric", "Latest global validation AUC."),
    AGE,
]


def crd(
    kind: str, short: str, model: type[FLProject] | type[FLJob], status: type[StatusModel], columns: list[Any]
) -> Schema:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "flarekube", "app.kubernetes.io/part-of": "flarekube"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["flarekube"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": resource_schema(model, status)},
                }
            ],
        },
    }


def crds() -> list[Schema]:
    return [
        crd("FLProject", "flp", FLProject, FLProjectStatus, PROJECT_COLUMNS),
        crd("FLJob", "flj", FLJob, FLJobStatus, JOB_COLUMNS),
    ]


def render() -> dict[str, str]:
    """File name -> YAML text, exactly as the chart keeps it."""
    out: dict[str, str] = {}
    for doc in crds():
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True)
        out[f"{doc['metadata']['name']}.yaml"] = HEADER + text
    return out


def write(folder: Path = CHART_CRDS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def drift(folder: Path = CHART_CRDS) -> list[str]:
    """Names of the chart's CRD files that differ from (or are missing against) the models."""
    return [n for n, t in render().items() if not (folder / n).is_file() or (folder / n).read_text() != t]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flarekube.crd", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the chart's CRD files")
    parser.add_argument("--check", action="store_true", help="exit 1 when the chart's files drifted")
    parser.add_argument("--out", type=Path, default=CHART_CRDS, help=f"folder (default {CHART_CRDS})")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.out):
            print(f"wrote {path}")
        return 0
    if args.check:
        stale = drift(args.out)
        for name in stale:
            print(f"{args.out / name} differs from the models; run: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write("---\n".join(render().values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
