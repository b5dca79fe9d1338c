"""The chart's CRDs are exactly what `flarekube.crd` renders from the models, and they are structural."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube import crd

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "flarekube" / "crds"


def _nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (properties, items, additionalProperties)."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return {d["spec"]["names"]["kind"]: d for d in crd.crds()}


def test_chart_crds_match_the_models() -> None:
    stale = crd.drift(CRD_DIR)
    assert not stale, f"{', '.join(stale)} in {CRD_DIR} drifted from operator/flarekube/api; run: {crd.REGENERATE}"
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(crd.render())


def test_names_group_and_version(rendered: dict[str, dict[str, Any]]) -> None:
    for kind, short in (("FLProject", "flp"), ("FLJob", "flj")):
        spec = rendered[kind]["spec"]
        assert spec["group"] == "flarekube.io" and spec["scope"] == "Namespaced"
        assert spec["names"]["shortNames"] == [short] and spec["names"]["categories"] == ["flarekube"]
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", ["FLProject", "FLJob"])
def test_schema_is_structural(rendered: dict[str, dict[str, Any]], kind: str) -> None:
    root = rendered[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = yaml.safe_dump(root)
    for forbidden in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "title:", "nullable", "const:"):
        assert forbidden not in text, f"{kind}: {forbidden} has no place in a structural schema"
    for path, node in _nodes(root):
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), f"{kind}{path} has no type"
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", f"{kind}{path}"
            assert not ("properties" in node and "additionalProperties" in node), f"{kind}{path}"
        if "default" in node:
            assert node["default"] is not None, f"{kind}{path}: a null default"
    # metadata: only `type: object`; the API server owns its schema.
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["required"] == ["spec"]


def test_optional_fields_are_not_required_and_required_ones_are(rendered: dict[str, dict[str, Any]]) -> None:
    project = rendered["FLProject"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert project["required"] == ["sites"]
    assert project["properties"]["sites"]["items"]["required"] == ["name", "org"]
    job = rendered["FLJob"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert job["required"] == ["projectRef", "workload", "rounds"]
    rate = job["properties"]["workload"]["properties"]["learningRate"]
    assert (rate["minimum"], rate["exclusiveMinimum"], rate["maximum"]) == (0, True, 10)


def test_cel_rules_are_carried_and_spec_lists_are_bounded(rendered: dict[str, dict[str, Any]]) -> None:
    """The CEL cost estimator needs maxItems (and maxLength on their strings) for rules that walk lists."""
    for kind, doc in rendered.items():
        root = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        rules = [(p, r) for p, n in _nodes(root) for r in n.get("x-kubernetes-validations", [])]
        assert rules, kind
        for path, node in _nodes(root):
            if node.get("type") == "array" and not path.startswith(".status"):
                assert "maxItems" in node, f"{kind}{path}: unbounded list"
    spec_rules = rendered["FLProject"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = {r["message"] for r in spec_rules["x-kubernetes-validations"]}
    assert {"site names must be unique", "server.name must not be a site name"} <= messages


def test_immutable_fields_have_transition_rules(rendered: dict[str, dict[str, Any]]) -> None:
    root = rendered["FLProject"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    server = root["properties"]["spec"]["properties"]["server"]
    transition = [
        r["rule"]
        for r in root["x-kubernetes-validations"]
        + server["x-kubernetes-validations"]
        + server["properties"]["org"]["x-kubernetes-validations"]
    ]
    assert sum("oldSelf" in r for r in transition) == 3


def test_printer_columns(rendered: dict[str, dict[str, Any]]) -> None:
    def columns(kind: str) -> list[tuple[str, str]]:
        cols = rendered[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
        return [(c["name"].upper(), c["jsonPath"]) for c in cols]

    assert columns("FLProject") == [
        ("PHASE", ".status.phase"),
        ("SITES", ".status.sitesSummary"),
        ("SERVER", ".status.serverEndpoint"),
        ("CA-EXPIRES", ".status.caExpires"),
        ("CERTS-EXPIRE", ".status.certsExpire"),
        ("AGE", ".metadata.creationTimestamp"),
    ]
    assert columns("FLJob") == [
        ("PROJECT", ".spec.projectRef"),
        ("ALGORITHM", ".spec.algorithm.name"),
        ("ROUND", ".status.roundSummary"),
        ("PHASE", ".status.phase"),
        ("METRIC", ".status.metric"),
        ("AGE", ".metadata.creationTimestamp"),
    ]


def test_status_schema_names_what_the_columns_print(rendered: dict[str, dict[str, Any]]) -> None:
    for kind, doc in rendered.items():
        version = doc["spec"]["versions"][0]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
        for column in version["additionalPrinterColumns"]:
            if column["jsonPath"].startswith(".status."):
                assert column["jsonPath"].removeprefix(".status.") in status["properties"], (kind, column)


def test_defaults_match_pydantic(rendered: dict[str, dict[str, Any]]) -> None:
    server = rendered["FLProject"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["server"]
    assert server["default"] == {}
    assert {k: v.get("default") for k, v in server["properties"].items() if "default" in v} == {
        "name": "server",
        "org": "flarekube",
        "flPort": 8002,
        "adminPort": 8003,
    }


def test_check_command_reports_drift(tmp_path: Path) -> None:
    assert crd.main(["--check", "--out", str(tmp_path)]) == 1
    assert crd.main(["--write", "--out", str(tmp_path)]) == 0
    assert crd.main(["--check", "--out", str(tmp_path)]) == 0
