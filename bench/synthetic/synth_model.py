"""A 28 MB model for bench/bench_rounds.py: one 2650 x 2650 float32 layer (7.0 M parameters, DenseNet-121 size)."""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 2650


class Wide(nn.Module):
    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.layer = nn.Linear(width, width)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layer(x)
        return out
