"""NVFlare Client API training script for the clinical-tabular workload (CRC, binary label).

Runs as ``python -m flarekube_workloads.tabular.client`` or as a file that NVFlare's ScriptRunner copies
into a job's ``custom/`` folder, hence absolute imports only. ``{site}`` in any path argument is replaced
by the NVFlare site name, so every site shares one job config.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import torch
from torch import nn

from flarekube_workloads.algorithms import StepHooks
from flarekube_workloads.contract import TABULAR_TEST_FILE, TABULAR_TRAIN_FILE
from flarekube_workloads.flare_loop import (
    client_parser,
    expand_site,
    local_algorithm,
    parse_client_args,
    pick_device,
    run_client_loop,
    seed_everything,
)
from flarekube_workloads.reporting import MetricsRecorder
from flarekube_workloads.tabular.baseline import fit, score
from flarekube_workloads.tabular.data import SiteData, load_site
from flarekube_workloads.tabular.model import TabularNet

log = logging.getLogger("flarekube_workloads.tabular")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = client_parser(
        __doc__,
        "folder with the site's CSVs; may contain {site}",
        local_epochs=2,
        batch_size=32,
        device="cpu",
        device_help="auto, cpu or cuda (this MLP is faster on CPU)",
    )
    p.add_argument("--train-file", default=TABULAR_TRAIN_FILE)
    p.add_argument("--test-file", default=TABULAR_TEST_FILE)
    return parse_client_args(p, argv)


class TabularTask:
    """One site's local work: evaluate on its test rows, train on its train rows."""

    def __init__(self, data: SiteData, args: argparse.Namespace, device: torch.device) -> None:
        self.data = data
        self.args = args
        self.device = device
        self.num_train_samples = len(data.y_train)
        self.generator = seed_everything(args.seed)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        m = score(model, self.data.x_test, self.data.y_test)
        return {"val_auc": m["auc"], "val_loss": m["loss"]}

    def train(self, model: nn.Module, hooks: StepHooks | None = None) -> tuple[dict[str, float], int]:
        a = self.args
        loss, steps = fit(
            model,
            self.data.x_train,
            self.data.y_train,
            a.local_epochs,
            a.lr,
            a.batch_size,
            self.generator,
            self.device,
            hooks,
        )
        return {"train_loss": loss}, steps


def main(argv: Sequence[str] | None = None) -> None:
    import nvflare.client as flare

    if not logging.getLogger().handlers:
        # an external trainer process has no logging config; in-process, NVFlare's own config applies
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    flare.init()
    site = flare.get_site_name()
    data = load_site(
        expand_site(args.data_dir, site),
        expand_site(args.train_file, site),
        expand_site(args.test_file, site),
    )
    log.info(
        "site %s: %d train / %d test rows, %d features",
        site,
        len(data.y_train),
        len(data.y_test),
        data.n_features,
    )
    device = pick_device(args.device)
    seed_everything(args.seed)
    model = TabularNet(n_features=data.n_features).to(device)
    task = TabularTask(data, args, device)
    run_client_loop(model, task, site, MetricsRecorder(site), local_algorithm(args))


if __name__ == "__main__":
    main()
