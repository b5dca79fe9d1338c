"""Seeded model construction: the server builds the initial global model, so without a seed two runs of
the same FLJob start from different weights and no two algorithms can be compared round for round."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_init(seed: int | None) -> Iterator[None]:
    """Run the block with torch's CPU generator at `seed`, restoring the caller's generator after (None:
    leave the generator alone)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
