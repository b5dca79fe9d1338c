"""The pydantic models reject every invalid document of the shared catalogue, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flarekube.api import FLJob, FLProject, SpecError, load_bundle, parse_document
from flarekube.api.validation import cluster_project_problems

from tests.support.speccases import CASES, Case, job, names_field, project

REPO = Path(__file__).resolve().parents[2]
PYDANTIC_CASES = [c for c in CASES if c.pydantic]


def test_the_catalogue_is_large_enough() -> None:
    assert len(PYDANTIC_CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def test_the_base_documents_are_valid() -> None:
    assert isinstance(parse_document(project()), FLProject)
    assert isinstance(parse_document(job()), FLJob)


@pytest.mark.parametrize("case", PYDANTIC_CASES, ids=lambda c: c.id)
def test_invalid_document_is_rejected_naming_its_field(case: Case) -> None:
    with pytest.raises(SpecError) as caught:
        parse_document(case.document(), "doc.yaml")
    problems = caught.value.problems
    assert problems, "a rejection without a problem line"
    assert any(names_field(p, case.field) for p in problems), f"no problem names {case.field}: {problems}"


def test_the_error_message_reads_like_the_issue_says() -> None:
    doc = project()
    doc["spec"]["sites"][2]["name"] = "Site_3"
    with pytest.raises(SpecError) as caught:
        parse_document(doc)
    assert caught.value.problems == [
        'spec.sites[2].name: "Site_3" is not a DNS-1123 label (lower-case letters, digits, "-", at most 63)'
    ]


def test_a_scalar_union_failure_is_one_line() -> None:
    doc = job()
    doc["spec"]["workload"]["params"]["layers"] = [64, 32]
    with pytest.raises(SpecError) as caught:
        parse_document(doc)
    assert caught.value.problems == [
        "spec.workload.params.layers: [64, 32] must be a string, an integer, a number or a boolean"
    ]


def test_every_problem_is_reported_at_once() -> None:
    doc = project()
    doc["spec"]["sites"][0]["name"] = "A"
    doc["spec"]["server"]["flPort"] = 1
    with pytest.raises(SpecError) as caught:
        parse_document(doc)
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_accepted(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        parse_document(doc, str(path))
    if {d["kind"] for d in docs} == {"FLProject", "FLJob"}:
        load_bundle([path])  # the cross-document rules too


def test_immutability_is_declared_for_the_api_server_only() -> None:
    """Transition rules need the old object; pydantic sees one document, so changing them passes here."""
    before, after = project(), project()
    after["spec"]["projectName"] = "renamed"
    after["spec"]["server"]["org"] = "other_org"
    parse_document(before)
    parse_document(after)


def test_host_path_data_needs_the_installers_allow_list() -> None:
    """Issue 12: hostPath is the installer's decision (chart `allowedHostPaths`), never a tenant's."""
    doc = project()
    parsed = parse_document(doc)
    assert isinstance(parsed, FLProject)
    refused = cluster_project_problems(parsed)
    assert [p.split(":")[0] for p in refused] == [f"spec.sites[{i}].data.hostPath.path" for i in range(3)]
    assert "allowedHostPaths: none" in refused[0] and "pvc" in refused[0]
    assert cluster_project_problems(parsed, ["/data"]) == []
    only_one = cluster_project_problems(parsed, ["/data/site-1"])  # site-1's folder, not /data/site-10
    assert [p.split(":")[0] for p in only_one] == [f"spec.sites[{i}].data.hostPath.path" for i in (1, 2)]
    assert len(cluster_project_problems(parsed, ["/dat"])) == 3  # a prefix of the name is not a parent folder
