"""The site side of the federated algorithms, shared by every workload's Client API loop.

FedAvg and FedOpt train as usual (FedOpt's difference is on the server). FedProx adds NVFlare's
`PTFedProxLoss` -- (mu/2) * ||w - w_global||^2 -- to every step, against a frozen copy of the global model
the round started from; mu comes from the task's metadata, where NVFlare's FedProx controller puts it.
Every algorithm reports `local_global_distance` (L2 norm of the round's local update), the quantity FedProx
is meant to shrink.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

ALGORITHMS = ("fedavg", "fedprox", "fedopt")
FEDPROX_MU_KEY = "fedprox_mu"  # nvflare.app_common.app_constant.AlgorithmConstants.FEDPROX_MU

Regularizer = Callable[[nn.Module], torch.Tensor]


class LocalAlgorithm:
    """Per-round hooks: `begin_round` with the received global model, `regularizer` for each training
    step (None: plain loss), `end_round` for the metrics the site reports."""

    def __init__(self, name: str) -> None:
        if name not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})")
        self.name = name
        self.global_model: nn.Module | None = None
        self.regularizer: Regularizer | None = None
        self.mu = 0.0

    def begin_round(self, model: nn.Module, meta: Mapping[str, Any] | None) -> None:
        self.global_model = copy.deepcopy(model)
        for p in self.global_model.parameters():
            p.requires_grad_(False)
        self.regularizer = None
        if self.name == "fedprox":
            self.mu = fedprox_mu(meta)
            from nvflare.app_opt.pt.fedproxloss import PTFedProxLoss

            prox = PTFedProxLoss(mu=self.mu)
            reference = self.global_model
            self.regularizer = lambda m: prox(m, reference)

    def end_round(self, model: nn.Module) -> dict[str, float]:
        assert self.global_model is not None, "end_round before begin_round"
        return {"local_global_distance": parameter_distance(model, self.global_model)}


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


@torch.no_grad()
def parameter_distance(a: nn.Module, b: nn.Module) -> float:
    """L2 norm of the difference of two models' trainable parameters."""
    total = torch.zeros((), dtype=torch.float64)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        total += torch.sum((p.detach().double().cpu() - q.detach().double().cpu()) ** 2)
    return float(total.sqrt())
