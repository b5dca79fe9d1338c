"""Does federation help every site? Local-only model vs federated model, on each site's own test set.

Only for flarekube's tabular workload, whose data layout is known; the numbers go into summary.json
and the table `flarekube run` ends with.
"""

from __future__ import annotations

from pathlib import Path

from flarekube.builders.jobfolder import SiteInputs


def compare_tabular(
    global_model: Path, sites: dict[str, SiteInputs], epochs: int, lr: float, batch_size: int, seed: int
) -> dict[str, dict[str, float]]:
    import flarekube_workloads.tabular.baseline as baseline
    from flarekube_workloads.tabular.data import load_site

    weights = baseline.load_state_dict(global_model)
    out: dict[str, dict[str, float]] = {}
    for name, inputs in sites.items():
        # The files were resolved once (spec or the workload's defaults) when the run was planned.
        data = load_site(inputs.data_dir, str(inputs.files.train), str(inputs.files.test))
        local = baseline.train_local(data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        out[name] = {
            "local_auc": baseline.evaluate(local, data)["auc"],
            "federated_auc": baseline.evaluate(weights, data)["auc"],
            "test_rows": float(len(data.y_test)),
        }
    return out
