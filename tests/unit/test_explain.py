"""`flarekube explain` and the descriptions it (and `kubectl explain`) shows: every CRD property has one."""

from __future__ import annotations

import json
from typing import Any

from flarekube import crd
from flarekube.cli import app
from typer.testing import CliRunner


def _undescribed(node: dict[str, Any], path: str) -> list[str]:
    out: list[str] = []
    for name, sub in (node.get("properties") or {}).items():
        if not str(sub.get("description", "")).strip() and path.count(".") + (name != "metadata") > 0:
            out.append(f"{path}.{name}")
        out += _undescribed(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out += _undescribed(node[key], f"{path}[]")
    return out


def test_every_crd_property_has_a_description() -> None:
    for doc in crd.crds():
        schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert _undescribed(schema, doc["spec"]["names"]["kind"]) == []


def test_explain_a_list_of_objects() -> None:
    result = CliRunner().invoke(app, ["explain", "FLProject.spec.sites", "-o", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["type"] == "[]object" and info["constraints"]["maxItems"] == 200
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["name"]["required"] and fields["gpus"]["type"] == "integer" and not fields["gpus"]["required"]
    assert "nvidia.com/gpu" in fields["gpus"]["description"]


def test_explain_a_leaf_shows_its_bounds_and_rules() -> None:
    info = json.loads(CliRunner().invoke(app, ["explain", "fljob.spec.seed", "-o", "json"]).stdout)
    assert info["constraints"] == {"default": 0, "minimum": 0, "maximum": 2**32 - 1}
    text = CliRunner().invoke(app, ["explain", "FLProject.spec.admins.email"]).stdout
    assert "reserved" in text and "FIELD: FLProject.spec.admins.email <string>" in text


def test_explain_an_unknown_field_is_a_usage_error_naming_the_fields() -> None:
    result = CliRunner().invoke(app, ["explain", "FLJob.spec.epochs"])
    assert result.exit_code == 2
    assert "FLJob.spec has no field 'epochs'" in result.output and "rounds" in result.output
    assert CliRunner().invoke(app, ["explain", "Pod.spec"]).exit_code == 2
