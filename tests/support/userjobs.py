"""Real user job folders, exported with NVFlare's own job API, for the bring-your-own-job tests.

`export_sklearn_job` is what a scikit-learn user writes: NVFlare's SklearnFedAvgRecipe (FedAvg + the
joblib persistor, which NVFlare 2.9's default allow-list leaves out), exported with `export`, its training
script installed on the sites rather than carried in custom/ (so the job is not custom code and each
participant's component allow-list decides). The client logs its accuracy through NVFlare's tracking API.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

JOBLIB_PERSISTOR = "nvflare.app_opt.sklearn.joblib_model_param_persistor.JoblibModelParamPersistor"

# The example's own client (examples/byo-sklearn): one script, so the tests run what users read.
SKLEARN_CLIENT = (Path(__file__).resolve().parents[2] / "examples" / "byo-sklearn" / "client.py").read_text()


def export_sklearn_job(root: Path, rounds: int = 10, sites: int = 2, name: str = "sk-job") -> Path:
    """Export the job under root/exported/<name>; its script goes to root/installed/ (not custom/)."""
    from nvflare.app_opt.sklearn.recipes.fedavg import SklearnFedAvgRecipe

    root.mkdir(parents=True, exist_ok=True)
    script = root / "sk_client.py"
    script.write_text(SKLEARN_CLIENT)
    recipe = SklearnFedAvgRecipe(name=name, min_clients=sites, num_rounds=rounds,
                                 model_params={"n_classes": 2}, train_script=str(script))  # fmt: skip
    recipe.export(str(root / "exported"))
    folder = root / "exported" / name
    installed = root / "installed"
    installed.mkdir(exist_ok=True)
    for custom in folder.glob("*/custom"):
        for file in custom.iterdir():
            shutil.copy2(file, installed / file.name)
        shutil.rmtree(custom)
    for config in folder.glob("*/config/config_fed_client.json"):
        data = json.loads(config.read_text())
        for entry in data["executors"]:
            args = entry["executor"]["args"]
            args["task_script_path"] = str(installed / Path(args["task_script_path"]).name)
        config.write_text(json.dumps(data, indent=4))
    return folder


def byo_project(name: str, sites: int, server_allow: list[str] | None = None) -> dict[str, Any]:
    """An FLProject whose sites bring no data source (the job handles its own data)."""
    from tests.support.federation import project_doc

    project = project_doc(name, sites)
    for site in project["spec"]["sites"]:
        del site["data"]
    if server_allow is not None:
        project["spec"]["server"] = {"allowComponents": server_allow}
    return project
