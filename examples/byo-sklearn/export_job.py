"""Write examples/byo-sklearn/job/sklearn-byo: NVFlare's own sklearn FedAvg recipe, exported (FedJob.export_job).

    python examples/byo-sklearn/export_job.py   # then: flarekube run examples/byo-sklearn/byo-sklearn.yaml
"""

import os
from pathlib import Path

from nvflare.app_opt.sklearn.recipes.fedavg import SklearnFedAvgRecipe

HERE = Path(__file__).resolve().parent
os.chdir(HERE)  # a relative script: the job names "client.py" (its custom/ copy), not this machine's path
recipe = SklearnFedAvgRecipe(name="sklearn-byo", min_clients=2, num_rounds=10, model_params={"n_classes": 2},
                             train_script="client.py")
recipe.export("job")  # the recipe's FedJob.export_job: meta.json, app/config, app/custom/client.py
