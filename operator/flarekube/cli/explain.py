"""`flarekube explain FLProject.spec.sites`: a field's type, description, constraints and children.

It reads the CRD schema generated from the models (`flarekube.crd`), so it shows exactly what
`kubectl explain` shows on a cluster and what `flarekube validate` enforces: one definition.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from flarekube.cli.app import Exit, Output, OutputOption, app, console, emit, fail

CONSTRAINTS = ("default", "enum", "pattern", "minimum", "exclusiveMinimum", "maximum", "minLength", "maxLength",
               "minItems", "maxItems", "required")  # fmt: skip


def schema_at(path: str) -> tuple[str, dict[str, Any]]:
    """The schema node at `Kind.field.sub` (a list's or map's items are walked through transparently)."""
    from flarekube import crd

    kind, *fields = [p for p in re.split(r"\.|\[\]", path) if p]
    roots = {d["spec"]["names"]["kind"].lower(): d for d in crd.crds()}
    doc = roots.get(kind.lower())
    if doc is None:
        raise KeyError(f"{kind!r} is not FLProject or FLJob")
    node: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    walked = [doc["spec"]["names"]["kind"]]
    for name in fields:
        node = _element(node)
        children = node.get("properties") or {}
        if name not in children:
            known = ", ".join(children) or "none"
            raise KeyError(f"{'.'.join(walked)} has no field {name!r} (fields: {known})")
        node = children[name]
        walked.append(name)
    return ".".join(walked), node


def _element(node: dict[str, Any]) -> dict[str, Any]:
    while "properties" not in node and isinstance(node.get("items") or node.get("additionalProperties"), dict):
        node = node.get("items") or node["additionalProperties"]
    return node


def _type(node: dict[str, Any]) -> str:
    if node.get("type") == "array":
        return f"[]{_type(node['items'])}"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type(node['additionalProperties'])}"
    return str(node.get("type", "scalar"))


def explanation(path: str) -> dict[str, Any]:
    name, node = schema_at(path)
    element = _element(node)
    required = set(element.get("required", []))
    return {
        "field": name,
        "type": _type(node),
        "description": node.get("description", ""),
        "constraints": {k: node[k] for k in CONSTRAINTS if k in node},
        "rules": [r["message"] for r in node.get("x-kubernetes-validations", [])],
        "fields": [{"name": n, "type": _type(s), "required": n in required, "description": s.get("description", "")}
                   for n, s in (element.get("properties") or {}).items()],
    }


@app.command()
def explain(
    path: Annotated[str, typer.Argument(metavar="PATH", help="Kind and fields, e.g. FLProject.spec.sites.")],
    output: OutputOption = Output.text,
) -> None:
    """Describe a field of FLProject or FLJob: type, description, constraints, rules and its fields."""
    try:
        info = explanation(path)
    except KeyError as error:
        fail(str(error.args[0]), Exit.USAGE, output)
    if output != Output.text:
        emit(info, output)
        return
    console.print(f"[bold]FIELD:[/] {info['field']} <{info['type']}>", highlight=False)
    console.print(f"\n{info['description']}", highlight=False, markup=False)
    for key, value in info["constraints"].items():
        console.print(f"  {key}: {value}", highlight=False, markup=False)
    for rule in info["rules"]:
        console.print(f"  rule: {rule}", highlight=False, markup=False)
    if info["fields"]:
        console.print("\n[bold]FIELDS:[/]", highlight=False)
        for f in info["fields"]:
            need = " -required-" if f["required"] else ""
            console.print(f"  {f['name']} <{f['type']}>{need}\n    {f['description']}", highlight=False, markup=False)
