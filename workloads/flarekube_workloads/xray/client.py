"""NVFlare Client API training script for the chest-xray-cnn workload (14-label, BCE-with-logits).

Runs as ``python -m flarekube_workloads.xray.client`` or as a file that NVFlare's ScriptRunner copies into
a job's ``custom/`` folder, hence absolute imports only. ``{site}`` in ``--data-dir`` is replaced by the
NVFlare site name. Per round: mean validation AUC/loss of the received global model, then local training.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import torch
from torch import nn

from flarekube_workloads.algorithms import StepHooks
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
from flarekube_workloads.xray.data import XrayData, load_xray
from flarekube_workloads.xray.model import ChestCNN
from flarekube_workloads.xray.train import evaluate, fit

log = logging.getLogger("flarekube_workloads.xray")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = client_parser(
        __doc__,
        "npz file or folder / NIH folder; may contain {site}",
        local_epochs=1,
        batch_size=64,
        device="auto",
        device_help="auto (cuda when available), cpu or cuda[:N]",
    )
    p.add_argument("--layout", choices=("npz", "nih"), default="npz")
    p.add_argument("--image-size", type=int, default=0, help="resize to this many px (0: npz as stored, nih 64)")
    p.add_argument("--max-batches", type=int, default=0, help="cap on training batches per round (0 = none)")
    p.add_argument("--max-eval-batches", type=int, default=0, help="cap on validation batches (0 = none)")
    p.add_argument("--cpu-threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    return parse_client_args(p, argv)


class XrayTask:
    """One site's local work on its validation and training splits."""

    def __init__(self, data: XrayData, args: argparse.Namespace, device: torch.device) -> None:
        self.data = data
        self.args = args
        self.device = device
        self.num_train_samples = len(data.train_labels)
        self.generator = seed_everything(args.seed)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        d = self.data
        m = evaluate(model, d.val_images, d.val_labels, self.device, max_batches=self.args.max_eval_batches)
        return {"val_auc": m["auc"], "val_loss": m["loss"]}

    def train(self, model: nn.Module, hooks: StepHooks | None = None) -> tuple[dict[str, float], int]:
        a, d = self.args, self.data
        loss, steps = fit(
            model, d.train_images, d.train_labels, a.local_epochs, a.lr, a.batch_size, self.generator,
            self.device, a.max_batches, hooks,
        )  # fmt: skip
        return {"train_loss": loss}, steps


def main(argv: Sequence[str] | None = None) -> None:
    import nvflare.client as flare

    if not logging.getLogger().handlers:
        # an external trainer process has no logging config; in-process, NVFlare's own config applies
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    flare.init()
    site = flare.get_site_name()
    data = load_xray(expand_site(args.data_dir, site), args.layout, args.image_size or None, seed=args.seed)
    log.info(
        "site %s: %d train / %d val / %d test images of %d px, %d labels",
        site, len(data.train_labels), len(data.val_labels), len(data.test_labels), data.image_size,
        data.num_classes,
    )  # fmt: skip
    device = pick_device(args.device)
    if args.cpu_threads > 0:
        # several sites sharing a few cores: an oversubscribed thread pool is much slower than one thread
        torch.set_num_threads(args.cpu_threads)
    seed_everything(args.seed)
    model = ChestCNN(num_classes=data.num_classes).to(device)
    task = XrayTask(data, args, device)
    run_client_loop(model, task, site, MetricsRecorder(site), local_algorithm(args))


if __name__ == "__main__":
    main()
