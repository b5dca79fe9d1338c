"""Training and evaluation loops for the chest X-ray CNN, used by the Client API script and benchmarks.

Images stay uint8 on the host; each batch is moved to the device and scaled there, which keeps host
memory at 1 byte per pixel and the host->device copy 4x smaller than float32.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from flarekube_workloads.algorithms import StepHooks
from flarekube_workloads.auc import mean_auc


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 ``N x H x W`` -> float ``N x 1 x H x W`` in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device, non_blocking=True)
    return x.unsqueeze(1).float().div_(127.5).sub_(1.0)


def batches(
    n: int, batch_size: int, generator: torch.Generator | None = None, max_batches: int = 0
) -> Iterator[np.ndarray]:
    """Index batches over ``range(n)``, shuffled when a generator is given; at most ``max_batches``
    (0 = all)."""
    order = torch.randperm(n, generator=generator).numpy() if generator is not None else np.arange(n)
    for i, start in enumerate(range(0, n, batch_size)):
        if max_batches and i >= max_batches:
            return
        yield order[start : start + batch_size]


def fit(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    lr: float,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    max_batches: int = 0,
    hooks: StepHooks | None = None,
) -> tuple[float, int]:
    """Adam + BCE-with-logits; returns (mean loss over the batches of the last epoch, optimizer steps).

    ``hooks``: an algorithm's changes to the loop (flarekube_workloads.algorithms.StepHooks).

    ``max_batches`` caps the batches per call (a whole local round), for fast CI runs.
    """
    # fresh optimizer each round: FedAvg exchanges weights only, old moments would be stale
    h = hooks or StepHooks()
    epochs = h.epochs or epochs
    optimizer = h.optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    steps = 0
    last_loss = float("nan")
    for _ in range(epochs):
        total, seen = torch.zeros((), device=device), 0
        budget = max_batches - steps if max_batches else 0
        if max_batches and budget <= 0:
            break
        for idx in batches(len(images), batch_size, generator, budget):
            x = to_input(images[idx], device)
            y = torch.from_numpy(labels[idx]).to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            (loss + h.regularizer(model) if h.regularizer is not None else loss).backward()
            optimizer.step()
            if h.after_step is not None:
                h.after_step(model)
            steps += 1
            # accumulate on device: a .item() per step would synchronise the GPU every batch
            total += loss.detach() * len(idx)
            seen += len(idx)
        last_loss = float(total) / max(seen, 1)
    return last_loss, steps


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    device: torch.device,
    batch_size: int = 256,
    max_batches: int = 0,
) -> dict[str, float]:
    """``{"auc": mean AUC over labels with both classes, "loss": mean BCE}``; NaN for no images."""
    model.eval()
    logits, seen = [], 0
    for idx in batches(len(images), batch_size, None, max_batches):
        logits.append(model(to_input(images[idx], device)).float().cpu())
        seen += len(idx)
    if not seen:
        return {"auc": float("nan"), "loss": float("nan")}
    scores = torch.cat(logits)
    target = torch.from_numpy(labels[:seen])
    loss = nn.functional.binary_cross_entropy_with_logits(scores, target)
    return {"auc": mean_auc(labels[:seen], scores.numpy()), "loss": float(loss)}
