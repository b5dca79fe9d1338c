"""The site side of the federated algorithms, shared by every workload's Client API loop.

Each is NVFlare's own building block, hooked into the workload's training loop through `StepHooks`:
- FedAvg and FedOpt train as usual (FedOpt's difference is on the server).
- FedProx adds NVFlare's `PTFedProxLoss` -- (mu/2) * ||w - w_global||^2 -- to every step, against a frozen
  copy of the global model the round started from; mu comes from the task's metadata, where NVFlare's
  FedProx controller puts it.
- SCAFFOLD corrects every step with NVFlare's `PTScaffoldHelper` (w -= lr * (c_global - c_local)), then
  updates the site's control variate c_local and returns its delta in the result's metadata, where
  NVFlare's Scaffold controller averages it into c_global (sent back in the next task's metadata).
- Ditto trains the received global model as FedAvg does (that is what goes back), then the site's own
  personal model with NVFlare's `PTDittoHelper`: `personal_epochs` epochs, its proximal term
  (lambda/2) * ||v - w_global||^2 towards the received global model. The personal model never leaves
  the site: `PTDittoHelper` keeps it in the job's folder (personalized_model.pt), round after round.
Every algorithm reports `local_global_distance` (L2 norm of the round's local update), the quantity FedProx
is meant to shrink; SCAFFOLD reports its control variates' norms, Ditto its personal model's metrics.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

ALGORITHMS = ("fedavg", "fedprox", "fedopt", "scaffold", "ditto")
FEDPROX_MU_KEY = "fedprox_mu"  # nvflare.app_common.app_constant.AlgorithmConstants.FEDPROX_MU
SCAFFOLD_CTRL_GLOBAL = "scaffold_c_global"  # AlgorithmConstants.SCAFFOLD_CTRL_GLOBAL
SCAFFOLD_CTRL_DIFF = "scaffold_c_diff"  # AlgorithmConstants.SCAFFOLD_CTRL_DIFF

Regularizer = Callable[[nn.Module], torch.Tensor]


@dataclass
class StepHooks:
    """What an algorithm changes in a workload's training loop (None everywhere: plain training)."""

    regularizer: Regularizer | None = None  # added to every step's loss
    after_step: Callable[[nn.Module], None] | None = None  # called after every optimizer step
    epochs: int | None = None  # None: the workload's local epochs
    optimizer: torch.optim.Optimizer | None = None  # None: a fresh optimizer for this call


class Trainable(Protocol):
    """The part of a workload's LocalTask an algorithm drives (Ditto trains a second model with it)."""

    def evaluate(self, model: nn.Module) -> dict[str, float]: ...

    def train(self, model: nn.Module, hooks: StepHooks | None = None) -> tuple[dict[str, float], int]: ...


class LocalAlgorithm:
    """Per-round hooks: `begin_round` with the received global model, then `hooks` for the training loop,
    `end_round` for the metrics the site reports, `after_training` for work past the sent model (Ditto's
    personal model), `result_meta` for what travels in the result's metadata (SCAFFOLD's control delta).
    One instance lives as long as the site's job: SCAFFOLD's c_local and Ditto's model persist in it."""

    def __init__(self, name: str, *, lr: float = 1e-3, ditto_lambda: float = 0.1, personal_epochs: int = 1,
                 workdir: str | Path = ".") -> None:  # fmt: skip
        if name not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})")
        if not math.isfinite(ditto_lambda) or ditto_lambda < 0 or personal_epochs < 1:
            raise ValueError(f"ditto needs lambda >= 0 and personal epochs >= 1, got {ditto_lambda}, {personal_epochs}")
        self.name = name
        self.lr = lr
        self.ditto_lambda = ditto_lambda
        self.personal_epochs = personal_epochs
        self.workdir = Path(workdir)
        self.global_model: nn.Module | None = None
        self.hooks = StepHooks()
        self.mu = 0.0
        self.scaffold: Any = None  # PTScaffoldHelper, made on the first round
        self._controls: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None
        self._received_c_global = 0.0
        self.ditto: Any = None  # PTDittoHelper, made on the first round

    @property
    def regularizer(self) -> Regularizer | None:
        return self.hooks.regularizer

    def begin_round(self, model: nn.Module, meta: Mapping[str, Any] | None) -> None:
        self.global_model = copy.deepcopy(model)
        for p in self.global_model.parameters():
            p.requires_grad_(False)
        self.hooks = StepHooks()
        if self.name == "fedprox":
            self.mu = fedprox_mu(meta)
            from nvflare.app_opt.pt.fedproxloss import PTFedProxLoss

            prox = PTFedProxLoss(mu=self.mu)
            reference = self.global_model
            self.hooks.regularizer = lambda m: prox(m, reference)
        elif self.name == "scaffold":
            self._begin_scaffold(model, meta)

    def _begin_scaffold(self, model: nn.Module, meta: Mapping[str, Any] | None) -> None:
        from nvflare.app_opt.pt.scaffold import PTScaffoldHelper

        if self.scaffold is None:  # once: init zeroes c_local, which must persist from round to round
            self.scaffold = PTScaffoldHelper()
            self.scaffold.init(model)
        c_global = (meta or {}).get(SCAFFOLD_CTRL_GLOBAL)
        if c_global is None:
            raise ValueError(f"scaffold: the task carries no {SCAFFOLD_CTRL_GLOBAL} (is the server running SCAFFOLD?)")
        self.scaffold.load_global_controls(c_global)
        c_global_para, c_local_para = self.scaffold.get_params()
        self._controls = (c_global_para, c_local_para)
        self._received_c_global = tensor_norm(c_global_para.values())
        helper, lr = self.scaffold, self.lr
        self.hooks.after_step = lambda m: helper.model_update(m, lr, c_global_para, c_local_para)

    def end_round(self, model: nn.Module) -> dict[str, float]:
        assert self.global_model is not None, "end_round before begin_round"
        metrics = {"local_global_distance": parameter_distance(model, self.global_model)}
        if self.name == "scaffold":
            assert self._controls is not None
            c_global_para, c_local_para = self._controls
            self.scaffold.terms_update(model, self.lr, c_global_para, c_local_para, self.global_model)
            metrics["scaffold_c_global_norm"] = self._received_c_global
            metrics["scaffold_c_local_norm"] = tensor_norm(self.scaffold.c_local.state_dict().values())
        return metrics

    def result_meta(self) -> dict[str, Any]:
        """What the site's result carries beside the weights (end_round first)."""
        if self.name == "scaffold":
            return {SCAFFOLD_CTRL_DIFF: self.scaffold.get_delta_controls()}
        return {}

    def after_training(self, model: nn.Module, task: Trainable) -> dict[str, float]:
        """Ditto: train and evaluate this site's personal model against the received global model."""
        if self.name != "ditto":
            return {}
        assert self.global_model is not None, "after_training before begin_round"
        reference = self.global_model
        if self.ditto is None:
            from nvflare.app_opt.pt.ditto import PTDittoHelper

            personal = copy.deepcopy(model)
            for p in personal.parameters():
                p.requires_grad_(True)
            # One optimizer for the site's whole job: the personal model never leaves the site, so its
            # optimizer state stays valid across rounds (the global model's is fresh each round).
            optimizer = torch.optim.Adam(personal.parameters(), lr=self.lr)
            device = next(personal.parameters()).device
            self.ditto = PTDittoHelper(nn.BCEWithLogitsLoss(), personal, optimizer, device, str(self.workdir),
                                       ditto_lambda=self.ditto_lambda, model_epochs=self.personal_epochs)  # fmt: skip
        helper = self.ditto
        # the first round starts from the received global model, later ones from the saved personal model
        helper.load_model(reference.state_dict())
        prox = helper.prox_criterion
        hooks = StepHooks(regularizer=lambda m: prox(m, reference), epochs=helper.model_epochs,
                          optimizer=helper.optimizer)  # fmt: skip
        train_metrics, _ = task.train(helper.model, hooks)
        evaluation = task.evaluate(helper.model)
        helper.epoch_global += helper.model_epochs
        helper.update_metric_save_model(float(evaluation.get("val_auc", 0.0)))  # saves personalized_model.pt
        out = {f"personal_{k}": float(v) for k, v in {**train_metrics, **evaluation}.items()}
        out["personal_global_distance"] = parameter_distance(helper.model, reference)
        return out


def fedprox_mu(meta: Mapping[str, Any] | None) -> float:
    """mu from the task metadata. NVFlare's FedAvg drops a mu of 0 (normalize_fedprox_mu), so a FedProx job
    with mu 0 -- FedAvg by definition -- arrives without one: that is 0, not an error."""
    value = (meta or {}).get(FEDPROX_MU_KEY)
    if value is None:
        return 0.0
    mu = float(value)
    if not math.isfinite(mu) or mu < 0:
        raise ValueError(f"{FEDPROX_MU_KEY} in the task metadata must be a finite number >= 0, got {value!r}")
    return mu


def tensor_norm(values: Any) -> float:
    """L2 norm over a collection of tensors or arrays (a model's worth of control variates)."""
    total = 0.0
    for v in values:
        total += float(torch.sum(torch.as_tensor(v).double() ** 2))
    return math.sqrt(total)


@torch.no_grad()
def parameter_distance(a: nn.Module, b: nn.Module) -> float:
    """L2 norm of the difference of two models' trainable parameters."""
    total = torch.zeros((), dtype=torch.float64)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        total += torch.sum((p.detach().double().cpu() - q.detach().double().cpu()) ** 2)
    return float(total.sqrt())
