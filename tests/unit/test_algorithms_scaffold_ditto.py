"""SCAFFOLD and Ditto without a federation: the built job folder, the site side on real NVFlare helpers,
the crc-hard variant's reproducibility, and the refusals (field named) by pydantic and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from flarekube.api import parse_document
from flarekube.api.errors import SpecError
from flarekube.api.job import FLJob, SiteFiles
from flarekube.builders.jobfolder import SiteInputs, build_job_folder
from flarekube_workloads.algorithms import SCAFFOLD_CTRL_DIFF, SCAFFOLD_CTRL_GLOBAL, LocalAlgorithm, StepHooks
from flarekube_workloads.contract import PERSONAL_MODEL_FILE
from flarekube_workloads.tabular.baseline import fit, load_state_dict, score
from flarekube_workloads.tabular.data import SiteData, load_site
from flarekube_workloads.tabular.model import TabularNet
from flarekube_workloads.tabular.variants import VARIANTS, write_variant

from tests.support.federation import CRC
from tests.support.speccases import job, project

SITES = {s: SiteInputs(f"/data/{s}", SiteFiles()) for s in ("site-1", "site-2")}


def _job(algorithm: dict[str, Any]) -> FLJob:
    doc = job()
    doc["spec"]["algorithm"] = algorithm
    parsed = parse_document(doc)
    assert isinstance(parsed, FLJob)
    return parsed


def _config(folder: Path, app: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / app / "config" / name).read_text())
    return data


def test_scaffold_is_nvflares_scaffold_controller_split_into_one_app_per_site(tmp_path: Path) -> None:
    folder = build_job_folder(_job({"name": "scaffold"}), tmp_path, SITES)
    (workflow,) = _config(folder, "app_server", "config_fed_server.json")["workflows"]
    assert workflow["path"] == "nvflare.app_common.workflows.scaffold.Scaffold"
    for site in SITES:
        (executor,) = _config(folder, f"app_{site}", "config_fed_client.json")["executors"]
        args = executor["executor"]["args"]
        assert f"--data-dir /data/{site}" in args["task_script_args"] and "--algorithm scaffold" in args[
            "task_script_args"]  # fmt: skip
        assert args["params_transfer_type"] == "DIFF"
    assert not (folder / "app").exists()


@pytest.mark.parametrize(("algorithm", "args"), [
    ({"name": "ditto"}, "--algorithm ditto --ditto-lambda 0.1 --personal-epochs 1"),
    ({"name": "ditto", "lambda": 2, "personalEpochs": 3}, "--algorithm ditto --ditto-lambda 2.0 --personal-epochs 3"),
])  # fmt: skip
def test_ditto_is_fault_tolerant_fedavg_with_the_personal_parameters_at_the_sites(
    tmp_path: Path, algorithm: dict[str, Any], args: str
) -> None:
    folder = build_job_folder(_job(algorithm), tmp_path, SITES)
    (workflow,) = _config(folder, "app_server", "config_fed_server.json")["workflows"]
    assert workflow["path"] == "flarekube_workloads.controllers.FaultTolerantFedAvg"
    client = _config(folder, "app_site-1", "config_fed_client.json")
    assert args in client["executors"][0]["executor"]["args"]["task_script_args"]


def _data(n: int = 128, seed: int = 0) -> SiteData:
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * g.normal(size=n) > 0).astype(np.float32)
    return SiteData(x, y, x, y, np.zeros(6), np.ones(6))


class _Task:
    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.generator = torch.Generator().manual_seed(0)

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        m = score(model, self.data.x_test, self.data.y_test)
        return {"val_auc": m["auc"], "val_loss": m["loss"]}

    def train(self, model: torch.nn.Module, hooks: StepHooks | None = None) -> tuple[dict[str, float], int]:
        loss, steps = fit(model, self.data.x_train, self.data.y_train, 1, 0.01, 32, self.generator, None, hooks)
        return {"train_loss": loss}, steps


def test_scaffold_site_side_corrects_steps_and_returns_a_control_delta() -> None:
    model, task = TabularNet(n_features=6, init_seed=1), _Task(_data())
    algo = LocalAlgorithm("scaffold", lr=0.01)
    with pytest.raises(ValueError, match=SCAFFOLD_CTRL_GLOBAL):
        algo.begin_round(model, {})
    zeros = {k: np.zeros(tuple(p.shape), np.float32) for k, p in model.named_parameters()}
    algo.begin_round(model, {SCAFFOLD_CTRL_GLOBAL: zeros})
    assert algo.hooks.after_step is not None
    task.train(model, algo.hooks)
    first = algo.end_round(model)
    delta = algo.result_meta()[SCAFFOLD_CTRL_DIFF]
    assert first["scaffold_c_global_norm"] == 0 and first["scaffold_c_local_norm"] > 0
    assert set(delta) == set(zeros) and any(np.abs(v).max() > 0 for v in delta.values())
    # round 2 with a non-zero c_global: the correction changes the step against plain training
    c_global = {k: np.asarray(v) for k, v in delta.items()}
    start = {k: v.clone() for k, v in model.state_dict().items()}
    algo.begin_round(model, {SCAFFOLD_CTRL_GLOBAL: c_global})
    task.generator.manual_seed(5)
    task.train(model, algo.hooks)
    corrected = {k: v.clone() for k, v in model.state_dict().items()}
    plain = TabularNet(n_features=6)
    plain.load_state_dict(start)
    task.generator.manual_seed(5)
    torch.manual_seed(0)
    task.train(plain, None)
    assert max(float((corrected[k] - plain.state_dict()[k]).abs().max()) for k in start) > 1e-4


def test_ditto_trains_and_keeps_a_personal_model_in_the_job_folder(tmp_path: Path) -> None:
    model, task = TabularNet(n_features=6, init_seed=1), _Task(_data())
    algo = LocalAlgorithm("ditto", lr=0.01, ditto_lambda=0.1, personal_epochs=2, workdir=tmp_path)
    for _ in range(2):
        algo.begin_round(model, {})
        task.train(model, algo.hooks)
        metrics = algo.after_training(model, task)
    assert metrics["personal_global_distance"] > 0 and "personal_val_auc" in metrics
    saved = load_state_dict(tmp_path / PERSONAL_MODEL_FILE)  # PTDittoHelper's file, {"model": ..., "epoch": ...}
    assert saved.keys() == model.state_dict().keys()
    assert torch.load(tmp_path / PERSONAL_MODEL_FILE, weights_only=True)["epoch"] == 4
    with pytest.raises(ValueError, match="lambda"):
        LocalAlgorithm("ditto", ditto_lambda=-1)


def test_crc_hard_is_reproducible_and_as_stated(tmp_path: Path) -> None:
    v = VARIANTS["crc-hard"]
    a, b = write_variant(v.name, CRC, tmp_path / "a"), write_variant(v.name, CRC, tmp_path / "b")
    assert a == b and set(a) == set(v.positive_share)
    for site, rows in a.items():
        assert (tmp_path / "a" / f"{site}.csv").read_bytes() == (tmp_path / "b" / f"{site}.csv").read_bytes()
        full = len(np.loadtxt(CRC / f"{site}.csv", delimiter=","))
        assert rows["train"] <= round(v.train_fraction * full) + 1
        for split in ("train", "test"):
            assert rows[f"{split}_label1"] / rows[split] == pytest.approx(v.positive_share[site], abs=0.03)
        data = load_site(tmp_path / "a", f"{site}.csv", f"{site}_test.csv")
        assert data.n_features == len(v.features)
    assert json.loads((tmp_path / "a" / "variant.json").read_text())["name"] == "crc-hard"


@pytest.mark.parametrize(("algorithm", "field"), [
    ({"name": "ditto", "lambda": -0.5}, r"spec\.algorithm\.lambda: -0\.5"),
    ({"name": "ditto", "personalEpochs": 0}, r"spec\.algorithm\.personalEpochs"),
    ({"name": "scaffold", "lambda": 0.1}, r"spec\.algorithm: .*lambda applies only to ditto"),
])  # fmt: skip
def test_invalid_ditto_and_scaffold_params_name_the_field(algorithm: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=field):
        _job(algorithm)


def test_cli_refuses_scaffold_on_a_privacy_site_naming_the_field(tmp_path: Path) -> None:
    proj = project()
    proj["spec"]["sites"][1]["policy"] = {"privacy": {"noise": {"fraction": 0.5}}}
    doc = job()
    doc["spec"]["algorithm"] = {"name": "scaffold"}
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all([proj, doc]))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "COLUMNS": "200"}
    ran = subprocess.run([sys.executable, "-m", "flarekube", "validate", str(spec)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60, env=env)  # fmt: skip
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "spec.algorithm.name" in ran.stderr and "control variates" in ran.stderr, ran.stderr
