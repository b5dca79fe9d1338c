"""spec.algorithm -> the NVFlare recipe that implements it, and the client arguments it needs.

Server side, each algorithm is NVFlare's own recipe: FedAvg (`FedAvgRecipe`), FedProx (`FedProxRecipe`:
FedAvg that sends `fedprox_mu` to the sites in the task's metadata), FedOpt (`FedOptRecipe`: the
averaged weight difference is a pseudo-gradient for a server-side torch optimizer), SCAFFOLD
(`ScaffoldRecipe`: NVFlare's Scaffold controller, which averages the sites' control-variate deltas beside
the weights) and Ditto (FedAvg on the server: personalisation is entirely a site's own business). The site
side of an algorithm (FedProx's proximal term, `PTScaffoldHelper`, `PTDittoHelper`) lives in
`flarekube_workloads.algorithms`, told by `--algorithm` and, for Ditto, its parameters.
Imports of NVFlare are inside the functions: the operator's reconcile path never needs torch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flarekube.api.job import AlgorithmSpec, FLJob

# FedOpt's defaults where the spec leaves them open: SGD at learning rate 1.0 without momentum is FedAvg
# exactly (w + 1.0 * mean diff); Adam's step is normalised, so 1.0 would jump far: 0.01 as in FedOpt papers.
SERVER_LR_DEFAULT = {"sgd": 1.0, "adam": 0.01}
# Ditto's defaults, NVFlare's own (PTDittoHelper: ditto_lambda=0.1, model_epochs=1).
DITTO_LAMBDA_DEFAULT = 0.1
PERSONAL_EPOCHS_DEFAULT = 1
CLIENT_API_EXECUTOR = "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor"


def algorithm_args(algo: AlgorithmSpec) -> list[str]:
    """The site's command-line arguments for the algorithm (FedProx's mu travels in the task metadata;
    Ditto's parameters have no place there: NVFlare's FedAvg sends none, so they are the site's arguments)."""
    args = ["--algorithm", algo.name]
    if algo.name == "ditto":
        lam = algo.ditto_lambda if algo.ditto_lambda is not None else DITTO_LAMBDA_DEFAULT
        epochs = algo.personal_epochs if algo.personal_epochs is not None else PERSONAL_EPOCHS_DEFAULT
        args += ["--ditto-lambda", repr(float(lam)), "--personal-epochs", str(epochs)]
    return args


def server_optimizer_args(algo: AlgorithmSpec) -> dict[str, Any]:
    name = algo.server_optimizer or "sgd"
    lr = algo.server_learning_rate if algo.server_learning_rate is not None else SERVER_LR_DEFAULT[name]
    if name == "adam":
        return {"path": "torch.optim.Adam", "args": {"lr": lr}}
    return {"path": "torch.optim.SGD", "args": {"lr": lr, "momentum": algo.server_momentum or 0.0}}


def make_recipe(job: FLJob, model: dict[str, object], script: str, key_metric: str,
                site_args: Mapping[str, str]) -> Any:  # fmt: skip
    """The recipe of `job.spec.algorithm`; per-site train_args are applied where the recipe supports them."""
    from nvflare.client.config import TransferType

    algo = job.spec.algorithm
    common: dict[str, Any] = {"name": job.metadata.name, "model": model, "min_clients": job.spec.min_sites,
                              "num_rounds": job.spec.rounds, "train_script": script}  # fmt: skip
    if algo.name == "fedopt":
        from nvflare.app_opt.pt.recipes.fedopt import FedOptRecipe

        # The server's optimizer runs on the server's CPU (NVFlare would pick CUDA when it sees one).
        # FedOptRecipe has no per-site configuration: split_client_app gives each site its arguments.
        return FedOptRecipe(**common, device="cpu", optimizer_args=server_optimizer_args(algo))
    # Sites send weight DIFFERENCES: a site's privacy filters (top-k%, noise) are meant for them (on full
    # weights they would zero the model), and FedAvg adds the averaged difference to the global.
    if algo.name == "scaffold":
        from nvflare.app_opt.pt.recipes.scaffold import ScaffoldRecipe

        # Differences here too, so that SCAFFOLD's global model is comparable with FedAvg's bit for bit
        # wherever the control variates are zero. No per-site configuration: split_client_app applies it.
        return ScaffoldRecipe(**common, params_transfer_type=TransferType.DIFF)
    fedavg: dict[str, Any] = {
        "key_metric": key_metric,
        "key_metric_mode": "max",
        "params_transfer_type": TransferType.DIFF,
    }
    if algo.name == "fedprox" and algo.mu:
        from nvflare.app_opt.pt.recipes.fedprox import FedProxRecipe

        recipe = FedProxRecipe(**common, **fedavg, fedprox_mu=algo.mu)
    else:
        # mu 0 is FedAvg by definition, and NVFlare's FedProxRecipe refuses it: plain FedAvg sends no mu and
        # the FedProx site code (flarekube_workloads.algorithms) reads that as 0. Ditto is FedAvg on the server.
        from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe

        recipe = FedAvgRecipe(**common, **fedavg)
    recipe.set_per_site_config({name: {"train_args": args} for name, args in site_args.items()})
    return recipe


def split_client_app(folder: Path, site_args: Mapping[str, str]) -> None:
    """Turn a recipe's one `app` deployed to @ALL into app_server plus one app per site with its own
    train_args: the layout FedAvgRecipe writes, which the rest of the builder and the result reader expect."""
    app = folder / "app"
    if not app.is_dir():
        return
    server = folder / "app_server" / "config"
    server.mkdir(parents=True)
    shutil.move(str(app / "config" / "config_fed_server.json"), server / "config_fed_server.json")
    client = json.loads((app / "config" / "config_fed_client.json").read_text())
    deploy: dict[str, list[str]] = {"app_server": ["server"]}
    for site, args in site_args.items():
        for entry in client.get("executors", []):
            executor = entry.get("executor", {})
            if executor.get("path") == CLIENT_API_EXECUTOR:
                executor.setdefault("args", {})["task_script_args"] = args
        target = folder / f"app_{site}" / "config"
        target.mkdir(parents=True)
        (target / "config_fed_client.json").write_text(json.dumps(client, indent=4))
        deploy[f"app_{site}"] = [site]
    shutil.rmtree(app)
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["deploy_map"] = deploy
    meta_file.write_text(json.dumps(meta, indent=4))
