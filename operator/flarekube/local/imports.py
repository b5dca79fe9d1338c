"""Does a component class a user's job names import in this runtime, and if not, which package is missing?

`flarekube run` runs every participant from this Python environment, so what imports here imports at each
site. The class's module is imported for real (as NVFlare will): a module that exists but needs a package
that is missing (NVFlare's sklearn persistor needs joblib) is caught too.
"""

from __future__ import annotations

import importlib

# Import names whose distribution is called otherwise, and the flarekube extra that installs them.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "torch": "torch", "tensorboard": "tensorboard", "mlflow": "mlflow",
                 "joblib": "joblib", "xgboost": "xgboost", "pandas": "pandas", "wandb": "wandb"}  # fmt: skip
EXTRAS = {"sklearn": "sklearn", "joblib": "sklearn", "pandas": "sklearn", "tensorboard": "tracking",
          "mlflow": "tracking"}  # fmt: skip


def import_error(class_path: str) -> str | None:
    """Why `class_path` does not import here (naming the missing package), None when it does."""
    module, _, name = class_path.rpartition(".")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = (err.name or module).split(".")[0]
        if missing == class_path.split(".")[0] and missing not in DISTRIBUTIONS:
            return f"no module {err.name or module} (is the job's own package installed in this runtime?)"
        dist = DISTRIBUTIONS.get(missing, missing)
        extra = EXTRAS.get(missing)
        hint = f"pip install 'flarekube[{extra}]'" if extra else f"pip install {dist}"
        return f"the Python package {dist} is not installed (module {err.name}); {hint}"
    except Exception as err:  # the module raised while importing: its own problem, named as it is
        return f"importing {module} failed: {type(err).__name__}: {err}"
    if not hasattr(loaded, name):
        return f"module {module} has no {name}"
    return None
