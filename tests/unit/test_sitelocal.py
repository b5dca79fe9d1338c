"""The local/ renderer: a site's policy in NVFlare's own formats, read back by NVFlare's own parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flarekube.api.policy import SitePolicy
from flarekube.builders import sitelocal
from flarekube.provisioning import (
    AdminIdentity,
    ClientIdentity,
    LocalKitStore,
    ProvisioningInputs,
    ServerIdentity,
    ensure_kits,
)
from flarekube.provisioning.codec import decode_kit
from nvflare.fuel.sec.authz import Authorizer, AuthzContext, Person

INPUTS = ProvisioningInputs(
    project="pol",
    server=ServerIdentity(name="localhost", org="flarekube", fl_port=8002, admin_port=8003),
    clients=(ClientIdentity("site-a", "hospital_a"),),
    admins=(AdminIdentity("admin@example.org", "hospital_a"),),
)


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    store = LocalKitStore(tmp_path_factory.mktemp("kits"))
    ensure_kits(INPUTS, store)
    return {n: decode_kit(store.get_kit(n)).files for n in ("localhost", "site-a")}


def policy(**spec: object) -> SitePolicy:
    return SitePolicy.model_validate(spec)


def authorize(authz: bytes, right: str, role: str, org: str = "hospital_a", site_org: str = "hospital_a") -> bool:
    """NVFlare's own evaluator on the rendered file (what the site itself will decide)."""
    authorizer = Authorizer(site_org=site_org)
    err = authorizer.load_policy(json.loads(authz))
    assert not err, err
    user = Person("someone@example.org", org, role)
    ok, err = authorizer.authorize(AuthzContext(right=right, user=user, submitter=user))
    assert ok or "not authorized" in err, err  # a refusal, not a broken policy
    return bool(ok)


def test_the_kit_carries_only_nvflare_defaults_in_local(kits: dict[str, dict[str, bytes]]) -> None:
    local = {p for p in kits["site-a"] if p.startswith("local/")}
    assert "local/authorization.json.default" in local and "local/resources.json.default" in local
    assert not local & {f"local/{n}" for n in sitelocal.RENDERED}, "policy files must not be in the kit"


def test_same_policy_renders_the_same_bytes(kits: dict[str, dict[str, bytes]]) -> None:
    p = policy(customCode="allow", privacy={"topPercent": {"percent": 25}}, allowComponents=["my_pkg."])
    first = sitelocal.render_local(kits["site-a"], "client", p)
    assert first == sitelocal.render_local(kits["site-a"], "client", policy(**p.model_dump(by_alias=True)))
    assert sitelocal.digest(first) == sitelocal.digest(dict(reversed(list(first.items()))))
    changed = sitelocal.render_local(kits["site-a"], "client", policy(customCode="deny"))
    assert changed[sitelocal.AUTHORIZATION] != first[sitelocal.AUTHORIZATION]
    assert sitelocal.digest(changed) != sitelocal.digest(first)
    # NVFlare's log configuration and samples stay as the kit has them
    assert first["log_config.json.default"] == kits["site-a"]["local/log_config.json.default"]


def test_custom_code_and_shell_are_denied_by_default(kits: dict[str, dict[str, bytes]]) -> None:
    authz = sitelocal.render_local(kits["site-a"], "client")[sitelocal.AUTHORIZATION]
    assert authorize(authz, "submit_job", "project_admin")
    assert authorize(authz, "submit_job", "lead")
    assert not authorize(authz, "submit_job", "member")
    assert not authorize(authz, "byoc", "project_admin")
    assert not authorize(authz, "shell_commands", "project_admin")
    allow = sitelocal.render_local(kits["site-a"], "client", policy(customCode="allow", shellCommands="allow"))
    assert authorize(allow[sitelocal.AUTHORIZATION], "byoc", "lead")
    assert authorize(allow[sitelocal.AUTHORIZATION], "shell_commands", "project_admin")


def test_submitters_by_role_and_org(kits: dict[str, dict[str, bytes]]) -> None:
    p = policy(submitters={"roles": ["lead"], "orgs": ["hospital_a"]}, customCode="allow")
    authz = sitelocal.render_local(kits["site-a"], "client", p)[sitelocal.AUTHORIZATION]
    assert authorize(authz, "submit_job", "lead", org="hospital_a")
    assert not authorize(authz, "submit_job", "lead", org="hospital_b")
    assert not authorize(authz, "byoc", "lead", org="hospital_b")
    assert not authorize(authz, "submit_job", "project_admin", org="hospital_a")


def test_the_operator_role_may_submit_and_follow_but_not_shell_or_operate(kits: dict[str, dict[str, bytes]]) -> None:
    for kind, files in (("client", kits["site-a"]), ("server", kits["localhost"])):
        authz = sitelocal.render_local(files, kind, policy(shellCommands="allow"))[sitelocal.AUTHORIZATION]
        assert authorize(authz, "submit_job", sitelocal.OPERATOR_ROLE, org="flarekube"), kind
        assert authorize(authz, "view", sitelocal.OPERATOR_ROLE, org="flarekube"), kind
        for right in ("shell_commands", "operate"):
            assert not authorize(authz, right, sitelocal.OPERATOR_ROLE, org="flarekube"), (kind, right)
    refused = sitelocal.render_local(kits["site-a"], "client", policy(submitters={"operator": False}))
    assert not authorize(refused[sitelocal.AUTHORIZATION], "submit_job", sitelocal.OPERATOR_ROLE, org="flarekube")


def test_allow_list_keeps_nvflare_defaults_and_adds_only_what_is_asked(kits: dict[str, dict[str, bytes]]) -> None:
    default = json.loads(kits["site-a"]["local/resources.json.default"])
    out = json.loads(sitelocal.render_local(kits["site-a"], "client", policy(allowComponents=["my_pkg.x.Y"]))[
        sitelocal.RESOURCES])
    allow = out["class_allow_list"]
    assert allow[: len(default["class_allow_list"])] == default["class_allow_list"]
    assert set(allow) - set(default["class_allow_list"]) == {*sitelocal.FLAREKUBE_COMPONENT_PREFIXES, "my_pkg.x.Y"}
    assert {k: v for k, v in out.items() if k != "class_allow_list"} == {
        k: v for k, v in default.items() if k != "class_allow_list"}


def test_privacy_is_one_default_scope_nvflare_can_build(kits: dict[str, dict[str, bytes]], tmp_path: Path) -> None:
    p = policy(privacy={"topPercent": {"percent": 25}, "excludeLayers": ["net.0.bias"]})
    privacy = json.loads(sitelocal.render_local(kits["site-a"], "client", p)[sitelocal.PRIVACY])
    assert privacy["default_scope"] == sitelocal.PRIVACY_SCOPE and len(privacy["scopes"]) == 1
    paths = [f["path"] for f in privacy["scopes"][0]["task_result_filters"]]
    assert paths == [sitelocal.EXCLUDE_VARS, sitelocal.PERCENTILE_PRIVACY, sitelocal.LOCAL_MODEL_BLOCKER]
    assert privacy["scopes"][0]["task_result_filters"][1]["args"]["percentile"] == pytest.approx(75.1)

    # NVFlare's own privacy configurator builds every filter (the classes exist, the arguments fit)
    from nvflare.apis.workspace import Workspace
    from nvflare.private.fed.app.fl_conf import create_privacy_manager

    (tmp_path / "local").mkdir()
    (tmp_path / "startup").mkdir()
    (tmp_path / "local" / "privacy.json").write_text(json.dumps(privacy))
    manager = create_privacy_manager(Workspace(str(tmp_path), "site-a"), names_only=False)
    scope = manager.get_scope("")
    assert scope is not None and scope.name == sitelocal.PRIVACY_SCOPE
    assert [type(f).__name__ for f in scope.task_result_filters["out"]] == [
        "ExcludeVars", "PercentilePrivacy", "LocalModelBlocker"]
    assert manager.get_scope("public") is None  # a job asking for another scope is refused

    shared = json.loads(sitelocal.render_local(kits["site-a"], "client", policy(
        privacy={"noise": {"epsilon": 1.0}, "shareLocalModel": True}))[sitelocal.PRIVACY])
    assert [f["path"] for f in shared["scopes"][0]["task_result_filters"]] == [sitelocal.SVT_PRIVACY]


def test_a_kit_without_nvflare_defaults_is_named(kits: dict[str, dict[str, bytes]]) -> None:
    files = {k: v for k, v in kits["site-a"].items() if k != "local/authorization.json.default"}
    with pytest.raises(sitelocal.RenderError, match=r"authorization\.json\.default"):
        sitelocal.render_local(files, "client")


def test_scaffold_is_refused_on_a_site_with_a_privacy_policy() -> None:
    """SCAFFOLD's control variates travel in metadata no filter touches: refused with the site and the reason."""
    from flarekube.api import FLJob, FLProject, cross_check, parse_document

    from tests.support.speccases import job, project

    doc = project()
    doc["spec"]["sites"][1]["policy"] = {"privacy": {"topPercent": {"percent": 25}}}
    proj, fl_job = parse_document(doc), parse_document(job())
    assert isinstance(proj, FLProject) and isinstance(fl_job, FLJob)
    assert cross_check(proj, fl_job) == []  # FedAvg is fine under any privacy policy
    doc = job()
    doc["spec"]["algorithm"] = {"name": "scaffold"}
    scaffold = parse_document(doc)
    assert isinstance(scaffold, FLJob)
    problems = cross_check(proj, scaffold)
    assert len(problems) == 1 and '"scaffold" cannot run on site "site-2"' in problems[0]
    assert "control variates" in problems[0] and problems[0].startswith("spec.algorithm.name")
