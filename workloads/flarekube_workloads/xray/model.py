"""A compact CNN for multi-label chest X-ray classification (logits out; use BCEWithLogitsLoss)."""

from __future__ import annotations

import torch
from torch import nn

from flarekube_workloads.seeding import seeded_init


def _block(c_in: int, c_out: int) -> nn.Sequential:
    # GroupNorm rather than BatchNorm: FedAvg would average BatchNorm's running statistics across sites
    # with different image distributions, and its integer counter does not average meaningfully.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.GroupNorm(8, c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.GroupNorm(8, c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ChestCNN(nn.Module):
    """Three conv blocks (32-64-128) and global average pooling, so any input size >= 8 px works
    (28 px ChestMNIST, 64/128/224 px NIH). About 0.29 M parameters."""

    def __init__(self, num_classes: int = 14, in_channels: int = 1, dropout: float = 0.2,
                 init_seed: int | None = None) -> None:  # fmt: skip
        super().__init__()
        with seeded_init(init_seed):  # the FLJob's seed: the same initial global model every run
            self.features = nn.Sequential(_block(in_channels, 32), _block(32, 64), _block(64, 128))
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(128, num_classes)
            )
        # Kept as attributes: NVFlare writes a model instance into a job config (FedOptRecipe does) from the
        # attributes named like its constructor's arguments; a missing one would be lost from the job.
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = dropout
        self.init_seed = init_seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes)``."""
        out: torch.Tensor = self.head(self.features(x))
        return out
