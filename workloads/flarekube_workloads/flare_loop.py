"""The NVFlare Client API loop shared by the tabular and the X-ray clients.

One round: load the received global weights, evaluate them on the site's own validation data (so the
reported AUC is the *global* model's, before local training moves it), train locally, send the weights
with metrics and ``NUM_STEPS_CURRENT_ROUND`` (FedAvg's aggregation weight). ``validate`` and
``submit_model`` tasks (cross-site evaluation workflows) are answered too.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from flarekube_workloads.algorithms import ALGORITHMS, LocalAlgorithm, StepHooks
from flarekube_workloads.reporting import MetricsRecorder

log = logging.getLogger(__name__)


class LocalTask(Protocol):
    """What a workload provides to the loop; the loop owns everything NVFlare-specific."""

    num_train_samples: int

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics of ``model`` on this site's validation data, e.g. ``{"val_auc", "val_loss"}``."""
        ...

    def train(self, model: nn.Module, hooks: StepHooks | None = None) -> tuple[dict[str, float], int]:
        """Train ``model`` in place with an algorithm's ``hooks`` (its loss term, per-step correction,
        epochs, optimizer) when given; return metrics (``{"train_loss"}``) and the optimizer steps taken."""
        ...


def client_parser(
    description: str | None, data_help: str, *, local_epochs: int, batch_size: int, device: str, device_help: str
) -> argparse.ArgumentParser:
    """The arguments every workload's client takes; each adds its own before `parse_client_args`."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-dir", required=True, help=data_help)
    p.add_argument("--local-epochs", type=int, default=local_epochs)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--algorithm", choices=ALGORITHMS, default="fedavg", help="the site side of spec.algorithm")
    p.add_argument("--ditto-lambda", type=float, default=0.1, help="ditto: the personal model's proximal weight")
    p.add_argument("--personal-epochs", type=int, default=1, help="ditto: personal epochs per round")
    p.add_argument("--device", default=device, help=device_help)
    return p


def parse_client_args(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    # parse_known_args: NVFlare may append its own arguments in future versions; ignore, don't crash
    args, unknown = p.parse_known_args(argv)
    if unknown:
        log.warning("ignoring unknown arguments: %s", unknown)
    return args


def job_workdir() -> Path:
    """This site's folder of the running job (<site workspace>/<job id>), where a site keeps what never
    leaves it (Ditto's personal model); the working directory when NVFlare runs the job elsewhere."""
    import nvflare.client as flare

    folder = Path.cwd() / str(flare.get_job_id())
    return folder if folder.is_dir() else Path.cwd()


def local_algorithm(args: argparse.Namespace) -> LocalAlgorithm:
    """The site side of spec.algorithm from the client's arguments (after ``flare.init()``)."""
    return LocalAlgorithm(args.algorithm, lr=args.lr, ditto_lambda=args.ditto_lambda,
                          personal_epochs=args.personal_epochs, workdir=job_workdir())  # fmt: skip


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def expand_site(template: str, site: str) -> str:
    """``{site}`` in a path argument becomes the NVFlare site name, so one job config fits all sites."""
    return template.replace("{site}", site)


def load_params(model: nn.Module, params: Mapping[str, Any] | None) -> bool:
    """Copy received weights (torch tensors or numpy arrays, depending on the exchange format) into
    ``model``; returns False when the task carried no weights."""
    if not params:
        return False
    reference = model.state_dict()
    state = {}
    for name, value in params.items():
        if name not in reference:
            raise KeyError(f"received parameter {name!r} does not exist in {type(model).__name__}")
        ref = reference[name]
        state[name] = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value).to(
            dtype=ref.dtype, device=ref.device
        )
    model.load_state_dict(state, strict=True)
    return True


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def run_client_loop(model: nn.Module, task: LocalTask, site: str, recorder: MetricsRecorder,
                    algorithm: LocalAlgorithm | None = None) -> None:  # fmt: skip
    """Serve NVFlare tasks until the job ends. ``flare.init()`` must have been called."""
    # imported here so that the pure training/eval modules stay importable without nvflare's side effects
    import nvflare.client as flare
    from nvflare.app_common.abstract.fl_model import FLModel

    local_state: dict[str, torch.Tensor] | None = None
    algo = algorithm or LocalAlgorithm("fedavg")
    log.info("site %s: working directory %s", site, os.getcwd())
    while flare.is_running():
        input_model = flare.receive()
        if input_model is None:  # the job ended while we waited
            break
        round_num = int(input_model.current_round or 0)
        has_params = load_params(model, input_model.params)

        if flare.is_submit_model():
            # cross-site evaluation asks for this site's own (last locally trained) model
            state = local_state if local_state is not None else cpu_state(model)
            flare.send(FLModel(params=state, meta={"site": site}))
            continue

        if flare.is_evaluate():
            if not has_params:
                flare.send(FLModel(metrics={}))
                continue
            metrics = {k: float(v) for k, v in task.evaluate(model).items()}
            # prefixed in the JSONL so that cross-site evaluation of other sites' models cannot be
            # mistaken for this round's training curve
            recorder.record(round_num, {f"validate_{k}": v for k, v in metrics.items()})
            flare.send(FLModel(metrics=metrics))
            continue

        # a train task (FedAvg's "train"): evaluate the received global model first
        eval_metrics = task.evaluate(model)
        algo.begin_round(model, input_model.meta)
        train_metrics, steps = task.train(model, algo.hooks)
        local_state = cpu_state(model)
        round_metrics = {**train_metrics, **eval_metrics, **algo.end_round(model)}
        round_metrics.update(algo.after_training(model, task))  # Ditto's personal model: kept here
        metrics = recorder.record(round_num, {**round_metrics, "num_samples": task.num_train_samples})
        log.info("site %s round %d: %s", site, round_num, metrics)
        meta = {"NUM_STEPS_CURRENT_ROUND": steps, **algo.result_meta()}
        flare.send(FLModel(params=local_state, metrics=metrics, meta=meta))
