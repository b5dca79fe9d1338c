"""SCAFFOLD and Ditto proven by what they do, on the harder CRC variant `crc-hard`
(flarekube_workloads.tabular.variants: 30% of the training rows, 12 middling genes, label skew 80% / 20%
label 1 at site-1 / site-2, in train and test rows).

Real `flarekube run` federations (2 sites, 2 rounds, tabular, seed 11), all on one provisioned project:
- SCAFFOLD: control variates zero in round 1 (its round 1 is FedAvg's: the same global model after it),
  non-zero after it at every site and on the server (c_global sent back in round 2), and a final global
  model that differs from FedAvg's.
- Ditto: every site's personalised model (kept in the outputs beside the global one) differs from the
  global model and is at least as good on the site's own test rows (BCE loss; AUC printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flarekube_workloads.tabular.baseline import evaluate, load_state_dict
from flarekube_workloads.tabular.data import load_site
from flarekube_workloads.tabular.variants import write_variant

from tests.federation.test_algorithms import IDENTICAL, Run, max_difference
from tests.support.federation import CRC, job_doc, nvflare_processes, project_doc

pytestmark = pytest.mark.nvflare

VARIANT = "crc-hard"
TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.003, "batchSize": 16}
SITES = [f"site-{i}" for i in (1, 2)]
ROUNDS = 2
RUNS = {
    "fedavg": {"name": "fedavg"},
    "scaffold": {"name": "scaffold"},
    "ditto": {"name": "ditto", "lambda": 0.1, "personalEpochs": 3},
}


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(VARIANT)
    write_variant(VARIANT, CRC, folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, variant: Path) -> dict[str, tuple[Run, Path]]:
    root = tmp_path_factory.mktemp("scaffold-ditto")
    env = {**os.environ, "COLUMNS": "120", "XDG_STATE_HOME": str(root / "state")}
    done: dict[str, tuple[Run, Path]] = {}
    for label, algorithm in RUNS.items():
        job = job_doc(label, "hard", ROUNDS, len(SITES), TABULAR)
        job["spec"].update(algorithm=algorithm, seed=11)
        spec = root / f"{label}.yaml"
        spec.write_text(yaml.safe_dump_all([project_doc("hard", len(SITES), variant), job]))
        out = root / label
        result = subprocess.run([sys.executable, "-m", "flarekube", "run", str(spec), "--out", str(out)],
                                capture_output=True, text=True, timeout=400, cwd=root, env=env)  # fmt: skip
        assert result.returncode == 0, f"{label}:\n{result.stdout}\n{result.stderr}"
        done[label] = (Run(out), out)
    assert nvflare_processes(str(root)) == []
    return done


def test_scaffold_control_variates_are_non_zero_after_round_1(runs: dict[str, tuple[Run, Path]]) -> None:
    scaffold, _ = runs["scaffold"]
    for site in SITES:
        c_global = [scaffold.metrics[(site, r, "scaffold_c_global_norm")] for r in (1, 2)]
        c_local = [scaffold.metrics[(site, r, "scaffold_c_local_norm")] for r in (1, 2)]
        print(f"{VARIANT} scaffold {site}: |c_global| received {c_global}, |c_local| after training {c_local}")
        assert c_global[0] == 0  # the server starts from zero controls
        assert c_local[0] > 0 and c_local[1] > 0  # the site's control after its first round of steps
        assert c_global[1] > 0  # the server averaged the sites' deltas and sent c_global back


def test_scaffold_round_1_is_fedavg_then_the_controls_change_the_update(runs: dict[str, tuple[Run, Path]]) -> None:
    scaffold, avg = runs["scaffold"][0], runs["fedavg"][0]
    for site in SITES:
        # round 2 evaluates the global model after round 1: zero controls, so the same as FedAvg's
        key = (site, 2, "val_auc")
        assert scaffold.metrics[key] == pytest.approx(avg.metrics[key], abs=IDENTICAL), site
        # round 2's local update is corrected by c_global - c_local: a different step from FedAvg's
        d_s, d_a = scaffold.distance(site, 2), avg.distance(site, 2)
        print(f"{VARIANT} {site} round-2 update: scaffold {d_s:.4f}, fedavg {d_a:.4f}")
        assert abs(d_s - d_a) > 1e-4
    diff = max_difference(scaffold, avg)
    print(f"{VARIANT} scaffold vs fedavg global model: max |dw| = {diff:.3g}")
    assert diff > 1e-3


def test_ditto_personal_models_differ_and_are_at_least_as_good(
    runs: dict[str, tuple[Run, Path]], variant: Path
) -> None:
    ditto, out = runs["ditto"]
    global_weights = load_state_dict(out / "global_model.pt")
    for site in SITES:
        personal_weights = load_state_dict(out / "personalized" / f"{site}.pt")
        apart = max(float((personal_weights[k] - global_weights[k]).abs().max()) for k in global_weights)
        data = load_site(variant, f"{site}.csv", f"{site}_test.csv")
        personal, global_ = evaluate(personal_weights, data), evaluate(global_weights, data)
        print(f"{VARIANT} ditto {site} ({len(data.y_test)} test rows): personal AUC {personal['auc']:.3f} "
              f"loss {personal['loss']:.3f}; global AUC {global_['auc']:.3f} loss {global_['loss']:.3f}; "
              f"max |dw| {apart:.3g}")  # fmt: skip
        assert apart > 1e-3
        # "As good" in the site's own test loss (BCE, a proper score): what the personal model fits is the
        # site's own population, label skew included. AUC is blind to a label prior, so it is printed and
        # recorded in docs/algorithms.md, not asserted (site-1 measured 0.05 below the global model).
        assert personal["loss"] <= global_["loss"], site
        assert ditto.metrics[(site, ROUNDS, "personal_global_distance")] > 0
