"""Does federation help every site? Local-only model vs federated model, on each site's own test set.

Only for flarekube's tabular workload, whose data layout is known; the numbers go into summary.json
and the table `flarekube run` ends with.
"""

from __future__ import annotations

from pathlib import Path

from flarekube.builders.jobfolder import SiteInputs
from flarekube.local.data import DEFAULT_FILES


def compare_tabular(
    global_model: Path, sites: dict[str, SiteInputs], epochs: int, lr: float, batch_size: int, seed: int
) -> dict[str, dict[str, float]]:
    import flarekube_workloads.tabular.baseline as baseline
    from flarekube_workloads.tabular.data import load_site

    weights = baseline.load_state_dict(global_model)
    train_default, test_default = DEFAULT_FILES["clinical-tabular"]
    out: dict[str, dict[str, float]] = {}
    for name, inputs in sites.items():
        data = load_site(
            inputs.data_dir,
            (inputs.files.train or train_default).replace("{site}", name),
            (inputs.files.test or test_default).replace("{site}", name),
        )
        local = baseline.train_local(data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        out[name] = {
            "local_auc": baseline.evaluate(local, data)["auc"],
            "federated_auc": baseline.evaluate(weights, data)["auc"],
            "test_rows": float(len(data.y_test)),
        }
    return out
