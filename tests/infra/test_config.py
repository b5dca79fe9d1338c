"""Stack config: the examples load, and every bad key is named in its message."""

from __future__ import annotations

from typing import Any

import pytest
from flarekube_infra.config import ConfigError, load_config, project_of
from flarekube_infra.program import config_from_env, read_kubeconfig

from . import configs


def problems(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return "\n".join(caught.value.problems)


def test_examples_load() -> None:
    eks = load_config(configs.eks())
    assert eks.mode == "aws" and eks.aws is not None
    assert eks.aws.gpu_node_groups[0].instance_type == "g5.xlarge"
    existing = load_config(configs.stack_file("existing"))
    assert existing.mode == "existing" and existing.aws is None and existing.kubeconfig == "~/.kube/config"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"aws__region": "useast1"}, "flarekube-infra:aws.region:"),
        ({"aws__gpuNodeGroups": []}, "flarekube-infra:aws.gpuNodeGroups:"),
        ({"aws__gpuNodeGroups": [{"name": "gpu", "instanceType": "m6i.large"}]},
         'flarekube-infra:aws.gpuNodeGroups[0].instanceType: "m6i.large" is not a supported x86-64 NVIDIA'),
        ({"aws__gpuNodeGroups": [{"name": "gpu", "instanceType": "g5g.xlarge"}]},
         "aws.gpuNodeGroups[0].instanceType"),  # Graviton GPU: arm64, refused
        ({"aws__gpuNodeGroups": [{"name": "gpu", "instanceType": "g5.xlarge", "amiType": "AL2023_ARM_64_NVIDIA"}]},
         "flarekube-infra:aws.gpuNodeGroups[0].amiType:"),
        ({"aws__gpuNodeGroups": [{"name": "gpu", "instanceType": "g5.xlarge", "minSize": 3, "maxSize": 2}]},
         "need minSize <= desiredSize <= maxSize"),
        ({"aws__gpuNodeGroups": [{"name": "a", "instanceType": "g5.xlarge"},
                                 {"name": "a", "instanceType": "g6.xlarge"}]},
         "node group names must be unique"),
        ({"aws__publicAccessCidrs": []}, "publicEndpoint: true needs publicAccessCidrs"),
        ({"aws__publicEndpoint": False}, "publicAccessCidrs is set but publicEndpoint is false"),
        ({"aws__vpcCidr": "10.0.0.0/24"}, "flarekube-infra:aws.vpcCidr:"),
        ({"aws__clusterNam": "x"}, "flarekube-infra:aws.clusterNam: unknown field"),
        ({"platform__gpuStack": "cuda"}, "flarekube-infra:platform.gpuStack:"),
        ({"federation__serverHost": "Not A Host"}, "flarekube-infra:federation.serverHost:"),
        ({"federation__project": {"metadata": {"name": "crc"}, "spec": {"sites": [{"name": "Site_1", "org": "a"}]}}},
         "flarekube-infra:federation.project.spec.sites[0].name:"),
        ({"federation__project": {"metadata": {"name": "crc"}, "spec": {"sites": [{"name": "s", "org": "a"}]}}},
         "federation.project.spec.server.allowedCidrs: list the remote sites' networks"),
        ({"federation__project": {"metadata": {"name": "crc"}, "spec": {
            "server": {"host": "other.example.org", "allowedCidrs": ["10.0.0.0/8"]},
            "sites": [{"name": "s", "org": "a"}]}}}, "differs from federation.serverHost"),
        ({"mode": "cloud"}, "flarekube-infra:mode:"),
        ({"kubeconfig": "/tmp/k"}, 'kubeconfig/context are for mode "existing"'),
        ({"typo": 1}, "flarekube-infra:typo: unknown field"),
    ],
)
def test_bad_key_is_named(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems(configs.eks(**changes))


def test_existing_mode_needs_kubeconfig_and_no_aws() -> None:
    assert 'mode "existing" needs kubeconfig' in problems({"mode": "existing"})
    assert "remove the aws key" in problems({**configs.eks(), "mode": "existing", "kubeconfig": "/k"})


def test_nlb_needs_aws() -> None:
    fed = configs.eks()["federation"]
    raw = {"mode": "existing", "kubeconfig": "/k", "federation": {**fed, "expose": "nlb"}}
    assert 'federation.expose: "nlb" needs mode "aws"' in problems(raw)
    # Unset, an existing cluster keeps the server in-cluster.
    cfg = load_config({"mode": "existing", "kubeconfig": "/k", "federation": fed})
    assert cfg.federation is not None and cfg.federation.expose == "none"


def test_project_is_the_operators_model() -> None:
    cfg = load_config(configs.eks())
    assert cfg.federation is not None
    project = project_of(cfg.federation)
    assert type(project).__module__ == "flarekube.api.project"
    assert project.spec.server.host == "fl.hospitals.example.org"
    assert [s.name for s in project.spec.sites] == ["site-1", "site-2"]


def test_config_from_env_keeps_own_namespace() -> None:
    raw = {"flarekube-infra:aws": '{"region": "us-east-1"}', "flarekube-infra:mode": "aws", "aws:region": "x"}
    assert config_from_env(raw) == {"aws": {"region": "us-east-1"}, "mode": "aws"}


def test_read_kubeconfig(tmp_path: Any) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    assert read_kubeconfig(str(path)).startswith("apiVersion")
    assert read_kubeconfig("apiVersion: v1\nkind: Config\n").startswith("apiVersion")
    with pytest.raises(ConfigError, match="kubeconfig: /nope is not a file"):
        read_kubeconfig("/nope")
