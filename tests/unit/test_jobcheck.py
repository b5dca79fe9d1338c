"""A user's job folder checked before anything starts: shape, imports, every participant's policy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from flarekube.api import parse_document
from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.builders import sitelocal
from flarekube.builders.jobcheck import check_job_folder, components, read_job_folder
from flarekube.builders.jobfolder import ROUND_PROGRESS, build_job_folder
from flarekube.local.imports import import_error

from tests.support.userjobs import JOBLIB_PERSISTOR, byo_project, export_sklearn_job


def _project(server_allow: list[str] | None = None, **policy: object) -> FLProject:
    doc = byo_project("byo", 2, server_allow)
    for site in doc["spec"]["sites"]:
        site["policy"] = dict(policy)
    project = parse_document(doc)
    assert isinstance(project, FLProject)
    return project


def _job(path: str = "x") -> FLJob:
    job = parse_document({"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": "sk-job"},
                          "spec": {"projectRef": "byo", "rounds": 10, "minSites": 2,
                                   "workload": {"kind": "jobFolder", "jobFolder": {"path": path}}}})  # fmt: skip
    assert isinstance(job, FLJob)
    return job


@pytest.fixture(scope="module")
def sk_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_sklearn_job(tmp_path_factory.mktemp("sk"))


SITES = ["site-1", "site-2"]


def test_the_joblib_persistor_is_refused_naming_the_server_the_class_and_the_field(sk_folder: Path) -> None:
    problems = check_job_folder(_project(), _job(), sk_folder, SITES, import_error)
    assert len(problems) == 1, problems
    (p,) = problems
    assert p.refused
    assert str(p).startswith("server: component " + JOBLIB_PERSISTOR)
    assert "spec.server.allowComponents" in str(p) and "app/config_fed_server components[3]" in str(p)


@pytest.mark.parametrize("allow", [JOBLIB_PERSISTOR, "nvflare.app_opt.sklearn."])
def test_the_server_allowing_it_by_class_or_prefix_admits_the_job(sk_folder: Path, allow: str) -> None:
    assert check_job_folder(_project([allow]), _job(), sk_folder, SITES, import_error) == []


def test_a_site_component_outside_the_allow_list_names_that_sites_policy_field(sk_folder: Path, tmp_path: Path) -> None:
    folder = _copy(sk_folder, tmp_path)
    config = folder / "app" / "config" / "config_fed_client.json"
    data = json.loads(config.read_text())
    data["components"].append({"id": "f", "path": "nvflare.app_common.filters.exclude_vars.ExcludeVars",
                               "args": {"nested": {"path": "json.JSONDecoder"}}})  # fmt: skip
    config.write_text(json.dumps(data))
    project = _project([JOBLIB_PERSISTOR], allowComponents=[])
    problems = [str(p) for p in check_job_folder(project, _job(), folder, SITES, import_error)]
    assert problems == [
        f"site-{i}: component json.JSONDecoder (app/config_fed_client components[1].args.nested) is not allowed "
        f"by its policy (NVFlare's class_allow_list); add it (or a prefix of it) to "
        f"spec.sites[{i - 1}].policy.allowComponents"
        for i in (1, 2)
    ]
    assert check_job_folder(_project([JOBLIB_PERSISTOR], allowComponents=["json."]), _job(), folder, SITES) == []


def test_a_class_that_does_not_import_names_the_missing_package(sk_folder: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    (tmp_path / "byo_helper.py").write_text("import zz_not_installed_pkg\nclass Thing: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = _copy(sk_folder, tmp_path)
    config = folder / "app" / "config" / "config_fed_server.json"
    data = json.loads(config.read_text())
    data["components"] += [{"id": "a", "path": "byo_helper.Thing"}, {"id": "b", "path": "my_own_pkg.mod.Cls"}]
    config.write_text(json.dumps(data))
    project = _project([JOBLIB_PERSISTOR, "byo_helper.", "my_own_pkg."])
    found = check_job_folder(project, _job(), folder, SITES, import_error)
    problems = [str(p) for p in found]
    assert problems == [
        "server: component byo_helper.Thing does not import here: the Python package zz_not_installed_pkg is not "
        "installed (module zz_not_installed_pkg); pip install zz_not_installed_pkg",
        "server: component my_own_pkg.mod.Cls does not import here: no module my_own_pkg (is the job's own "
        "package installed in this runtime?)",
    ]
    assert not any(p.refused for p in found)  # invalid input (exit 3), not a policy refusal


def test_import_error_names_the_extra_for_known_stacks() -> None:
    assert import_error(JOBLIB_PERSISTOR) is None
    assert import_error("nvflare.app_common.workflows.fedavg.NoSuchClass") == (
        "module nvflare.app_common.workflows.fedavg has no NoSuchClass"
    )


def test_a_job_that_brings_code_needs_custom_code_allowed_and_skips_the_allow_list(sk_folder: Path,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    folder = _copy(sk_folder, tmp_path)
    (folder / "app" / "custom").mkdir()
    (folder / "app" / "custom" / "mine.py").write_text("class X: ...\n")
    problems = [str(p) for p in check_job_folder(_project(), _job(), folder, SITES, import_error)]
    assert problems == [f'site-{i}: the job brings its own code (app/custom), which its policy refuses; set '
                        f'spec.sites[{i - 1}].policy.customCode to "allow" (or install the code in the runtime and '
                        "drop custom/)" for i in (1, 2)]  # fmt: skip
    assert check_job_folder(_project(customCode="allow"), _job(), folder, SITES, import_error) == []


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing", r"jobFolder.path: .*/missing does not exist"),
        (lambda d: (d / "f.txt").write_text("x") and d / "f.txt", r"jobFolder.path: .*/f.txt is not a folder"),
        (lambda d: d, r"has no meta.json or meta.conf \(not an NVFlare job folder"),
        (lambda d: (d / "meta.json").write_text('{"name": "j"}') and d, r"meta has no deploy_map"),
        (lambda d: (d / "meta.json").write_text('{"deploy_map": {"app": ["@ALL"]}}') and d,
         r"deploy_map names app 'app', but .*/app is no folder"),
    ],
)
def test_a_folder_that_is_not_an_nvflare_job_is_named(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    problems = check_job_folder(_project(), _job(), make(tmp_path), SITES, import_error)
    assert len(problems) == 1 and not problems[0].refused
    assert re.search(expected, str(problems[0])), problems


def test_hocon_meta_and_configs_read_as_nvflare_reads_them(tmp_path: Path) -> None:
    (tmp_path / "meta.conf").write_text('name = "j"\ndeploy_map { app = ["@ALL"] }\n')
    config = tmp_path / "app" / "config"
    config.mkdir(parents=True)
    (config / "config_fed_server.conf").write_text('workflows = [{ id = "w", path = "a.b.Workflow" }]\n')
    (config / "config_fed_client.conf").write_text("executors = []\n")
    parsed, problems = read_job_folder(tmp_path)
    assert problems == [] and parsed is not None
    assert list(components(parsed.apps["app"].server)) == [("a.b.Workflow", "workflows[0]")]
    missing_client = check_job_folder(_project(["a."]), _job(), tmp_path, SITES)
    assert missing_client == []
    (config / "config_fed_client.conf").unlink()
    assert "has no" in str(check_job_folder(_project(["a."]), _job(), tmp_path, SITES)[0])


@pytest.mark.parametrize(
    ("path", "prefix"),
    [("a.b.C", "a.b.C"), ("a.b.C.x", "a.b.C"), ("a.b.Cx", "a.b.C"), ("a.b.C", "a.b."), ("a.bc.C", "a.b."),
     ("x.y", "*")],
)
def test_the_prefix_rule_is_nvflares(path: str, prefix: str) -> None:
    from nvflare.app_common.widgets.component_path_authorizer import ComponentPathAuthorizer

    theirs = prefix == "*" or ComponentPathAuthorizer._path_matches_prefix(path, prefix)
    assert sitelocal.is_allowed(path, [prefix]) == theirs


def test_the_server_renders_its_allow_components(tmp_path: Path) -> None:
    kit = {"local/authorization.json.default": json.dumps({"permissions": {}}).encode(),
           "local/resources.json.default": json.dumps({"class_allow_list": ["n.a.B"]}).encode()}  # fmt: skip
    out = json.loads(sitelocal.render_local(kit, "server", server_components=[JOBLIB_PERSISTOR])[sitelocal.RESOURCES])
    assert out["class_allow_list"][0] == "n.a.B" and JOBLIB_PERSISTOR in out["class_allow_list"]


def test_the_run_copy_reports_rounds_and_the_users_folder_is_untouched(sk_folder: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in sk_folder.rglob("*") if p.is_file()}
    copy = build_job_folder(_job(), tmp_path / "run", {}, user_folder=sk_folder)
    assert before == {p: p.read_bytes() for p in sk_folder.rglob("*") if p.is_file()}
    server = json.loads((copy / "app" / "config" / "config_fed_server.json").read_text())
    assert [c["path"] for c in server["components"]][-1] == ROUND_PROGRESS


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "job"))
