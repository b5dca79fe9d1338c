"""Every kit carries NVFlare's default site policy plus exactly what flarekube's built-in jobs need."""

from __future__ import annotations

import json

from flarekube.provisioning.site_policy import FLAREKUBE_COMPONENT_PREFIXES, RESOURCES, with_flarekube_policy

DEFAULT = {
    "format_version": 2,
    "class_list_enforcement_mode": "enforce",
    "class_allow_list": ["nvflare.app_common.workflows.fedavg.FedAvg"],
}


def test_adds_flarekube_components_and_keeps_enforcement() -> None:
    files = {"local/resources.json.default": json.dumps(DEFAULT).encode(), "startup/x": b"y"}
    out = with_flarekube_policy(files)
    policy = json.loads(out[RESOURCES])
    assert policy["class_list_enforcement_mode"] == "enforce"
    assert policy["class_allow_list"] == [*DEFAULT["class_allow_list"], *FLAREKUBE_COMPONENT_PREFIXES]
    assert "*" not in policy["class_allow_list"]
    assert out["startup/x"] == b"y"


def test_a_site_policy_already_present_is_left_alone() -> None:
    files = {"local/resources.json.default": b"{}", RESOURCES: b'{"mine": true}'}
    assert with_flarekube_policy(files) == files
    assert with_flarekube_policy({"startup/x": b"y"}) == {"startup/x": b"y"}
