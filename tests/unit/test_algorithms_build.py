"""spec.algorithm -> NVFlare's own recipe in the built job folder, and the FedProx site term (no federation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from flarekube.api import parse_document
from flarekube.api.job import FLJob, SiteFiles
from flarekube.builders.jobfolder import SiteInputs, build_job_folder
from flarekube.builders.sitelocal import SERVER_OPTIMIZERS
from flarekube_workloads.algorithms import LocalAlgorithm, fedprox_mu, parameter_distance
from flarekube_workloads.tabular.model import TabularNet

SITES = {s: SiteInputs(f"/data/{s}", SiteFiles()) for s in ("site-1", "site-2")}


def _job(algorithm: dict[str, Any]) -> FLJob:
    doc = {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLJob", "metadata": {"name": "alg"},
           "spec": {"projectRef": "p", "workload": {"kind": "clinical-tabular"}, "rounds": 3, "minSites": 2,
                    "algorithm": algorithm}}  # fmt: skip
    job = parse_document(doc)
    assert isinstance(job, FLJob)
    return job


def _server(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "app_server/config/config_fed_server.json").read_text())
    return data


def _client_args(folder: Path, site: str) -> str:
    client = json.loads((folder / f"app_{site}/config/config_fed_client.json").read_text())
    return str(client["executors"][0]["executor"]["args"]["task_script_args"])


def test_fedprox_is_nvflares_fedprox_on_the_fault_tolerant_fedavg(tmp_path: Path) -> None:
    folder = build_job_folder(_job({"name": "fedprox", "mu": 0.5}), tmp_path, SITES)
    (workflow,) = _server(folder)["workflows"]
    assert workflow["path"] == "flarekube_workloads.controllers.FaultTolerantFedAvg"
    assert workflow["args"]["fedprox_mu"] == 0.5  # NVFlare's FedProx contract: mu in every task's metadata
    assert "--algorithm fedprox" in _client_args(folder, "site-1")


def test_fedprox_mu_0_builds_fedavg_whose_sites_read_mu_0(tmp_path: Path) -> None:
    folder = build_job_folder(_job({"name": "fedprox", "mu": 0}), tmp_path, SITES)
    (workflow,) = _server(folder)["workflows"]
    assert "fedprox_mu" not in workflow["args"] or workflow["args"]["fedprox_mu"] is None
    assert fedprox_mu({}) == 0.0 and fedprox_mu({"fedprox_mu": 0.25}) == 0.25
    with pytest.raises(ValueError, match="fedprox_mu"):
        fedprox_mu({"fedprox_mu": -1})


@pytest.mark.parametrize(("algorithm", "optimizer"), [
    ({"name": "fedopt"}, {"path": "torch.optim.SGD", "args": {"lr": 1.0, "momentum": 0.0}}),
    ({"name": "fedopt", "serverOptimizer": "adam"}, {"path": "torch.optim.Adam", "args": {"lr": 0.01}}),
    ({"name": "fedopt", "serverLearningRate": 0.5, "serverMomentum": 0.9},
     {"path": "torch.optim.SGD", "args": {"lr": 0.5, "momentum": 0.9}}),
])  # fmt: skip
def test_fedopt_is_nvflares_fedopt_split_into_one_app_per_site(
    tmp_path: Path, algorithm: dict[str, Any], optimizer: dict[str, Any]
) -> None:
    folder = build_job_folder(_job(algorithm), tmp_path, SITES)
    server = _server(folder)
    generator = next(c for c in server["components"] if c["id"] == "shareable_generator")
    assert generator["path"].endswith("PTFedOptModelShareableGenerator")
    got = generator["args"]["optimizer_args"]
    assert {"path": got["path"], "args": got["args"]} == optimizer
    assert optimizer["path"] in SERVER_OPTIMIZERS  # the server's allow-list admits exactly these
    # FedOptRecipe writes the model from an instance: its seed must survive, or runs start apart
    model = next(c for c in server["components"] if c["id"] == "model")
    assert model["path"].endswith("TabularNet") and model["args"]["init_seed"] == 0
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["deploy_map"] == {"app_server": ["server"], "app_site-1": ["site-1"], "app_site-2": ["site-2"]}
    assert not (folder / "app").exists() and not list(folder.glob("*/custom"))
    for site in SITES:  # each site its own data folder, as with FedAvg's per-site config
        assert f"--data-dir /data/{site}" in _client_args(folder, site) and "--algorithm fedopt" in _client_args(
            folder, site)  # fmt: skip


def test_fedprox_term_pulls_the_local_model_towards_the_global_one() -> None:
    """The site side alone: same data, same steps, the proximal term shortens the update."""
    torch.manual_seed(0)
    x, y = torch.randn(256, 8), (torch.rand(256) > 0.5).float()
    distances = {}
    for mu in (0.0, 10.0):
        model = TabularNet(n_features=8, dropout=0.0, init_seed=3)
        algo = LocalAlgorithm("fedprox")
        algo.begin_round(model, {"fedprox_mu": mu} if mu else {})
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(50):
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            assert algo.regularizer is not None
            (loss + algo.regularizer(model)).backward()
            optimizer.step()
        distances[mu] = algo.end_round(model)["local_global_distance"]
        assert distances[mu] == pytest.approx(parameter_distance(model, algo.global_model))  # type: ignore[arg-type]
    assert 0 < distances[10.0] < 0.5 * distances[0.0], distances


def test_init_seed_makes_the_initial_model_reproducible() -> None:
    a, b, c = (TabularNet(n_features=5, init_seed=s) for s in (7, 7, 8))
    assert parameter_distance(a, b) == 0 and parameter_distance(a, c) > 0
