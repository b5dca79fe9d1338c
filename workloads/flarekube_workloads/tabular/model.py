"""A small MLP for binary classification on tabular features (logits out; use BCEWithLogitsLoss)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from flarekube_workloads.seeding import seeded_init


class TabularNet(nn.Module):
    """``n_features -> hidden... -> 1`` logit. Small on purpose: the smallest CRC site has 156 rows."""

    def __init__(self, n_features: int = 62, hidden: Sequence[int] = (64, 32), dropout: float = 0.2,
                 init_seed: int | None = None) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        with seeded_init(init_seed):  # the FLJob's seed: the same initial global model every run
            for h in hidden:
                layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
                width = h
            layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        # Kept as attributes: NVFlare writes a model instance into a job config (FedOptRecipe does) from the
        # attributes named like its constructor's arguments; a missing one would be lost from the job.
        self.n_features = n_features
        self.hidden = list(hidden)
        self.dropout = dropout
        self.init_seed = init_seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(N,)``."""
        out: torch.Tensor = self.net(x).squeeze(-1)
        return out
