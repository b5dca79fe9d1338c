"""The one workload registry: one row per built-in workload kind. Pure: no NVFlare, no torch, no I/O.

A row says which Client API script a site runs, which model class the server starts from, which files a
site reads when the FLJob names none, how its data folder is checked before a local run, and which
metric judges a round. `jobFolder` (a user's own NVFlare job) has no row: flarekube knows nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flarekube_workloads.contract import KEY_METRIC, TABULAR_TEST_FILE, TABULAR_TRAIN_FILE

from flarekube.api.job import FLJob
from flarekube.api.validation import Scalar, xray_layout_problems

# The model's constructor arguments that depend on the data, from what the caller could observe of it
# (e.g. the tabular input width read from a site's CSV); None: the data is not visible here (a cluster).
ModelArgs = Callable[[FLJob, "int | None"], dict[str, object]]


@dataclass(frozen=True)
class Workload:
    kind: str
    client_module: str  # the Client API script, run inside each site's job process
    model_class: str  # a class path, not an instance: NVFlare would copy an instance's module into custom/
    model_args: ModelArgs = field(default=lambda job, width: {})
    default_files: tuple[str, str] | None = None  # train, test; "{site}" is the site's name
    check_data: Callable[[Path, Mapping[str, Scalar]], list[str]] | None = None
    key_metric: str = KEY_METRIC

    def model(self, job: FLJob, input_width: int | None = None) -> dict[str, object]:
        """The model as NVFlare's recipes take it: {"class_path": ..., "args": {...}}."""
        return {"class_path": self.model_class, "args": self.model_args(job, input_width)}


def _tabular_args(job: FLJob, width: int | None) -> dict[str, object]:
    # The input width is the data's, not a constant: without it observed, the model's own default stands.
    # init_seed: the FLJob's seed, so that one spec starts every run from the same global model.
    return {"n_features": width, "init_seed": job.spec.seed} if width else {"init_seed": job.spec.seed}


WORKLOADS: dict[str, Workload] = {
    "clinical-tabular": Workload(
        kind="clinical-tabular",
        client_module="flarekube_workloads.tabular.client",
        model_class="flarekube_workloads.tabular.model.TabularNet",
        model_args=_tabular_args,
        default_files=(TABULAR_TRAIN_FILE, TABULAR_TEST_FILE),
    ),
    "chest-xray-cnn": Workload(
        kind="chest-xray-cnn",
        client_module="flarekube_workloads.xray.client",
        model_class="flarekube_workloads.xray.model.ChestCNN",
        model_args=lambda job, width: {"num_classes": 14, "init_seed": job.spec.seed},  # 14 ChestX-ray14 findings
        check_data=xray_layout_problems,
    ),
}


def workload(kind: str) -> Workload | None:
    """The registry row of a workload kind; None for a user's own job folder."""
    return WORKLOADS.get(kind)
