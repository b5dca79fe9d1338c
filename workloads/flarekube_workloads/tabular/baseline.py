"""Training and evaluation on one site, shared by the Client API script and the CLI's local-only baseline.

The CLI prints "local-only AUC vs federated AUC per site": ``train_local`` trains a model on one site's
train rows only, and ``evaluate`` scores any state dict (local or the federation's global model) on that
site's own test rows. Keeping one implementation for both keeps the comparison fair.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flarekube_workloads.algorithms import StepHooks
from flarekube_workloads.auc import roc_auc
from flarekube_workloads.tabular.data import SiteData
from flarekube_workloads.tabular.model import TabularNet

WEIGHT_DECAY = 1e-4  # mild L2: 62 features against as few as 156 rows


@contextmanager
def cpu_threads(n: int = 1) -> Iterator[None]:
    """Temporarily cap torch's intra-op threads. This MLP on batches of 32 is dominated by thread-pool
    wake-ups: measured here, one thread trains 4x faster than two on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device | None = None,
    hooks: StepHooks | None = None,
) -> tuple[float, int]:
    """Adam + BCE-with-logits over shuffled mini-batches; returns (mean loss of the last epoch, steps).

    ``hooks`` are an algorithm's changes (flarekube_workloads.algorithms): a term added to each step's loss
    (FedProx's, Ditto's proximal one), a correction after each step (SCAFFOLD's), other epochs, a kept
    optimizer. The reported loss is the data loss alone, comparable across algorithms."""
    h = hooks or StepHooks()
    epochs = h.epochs or epochs
    device = device or next(model.parameters()).device
    # one CPU thread for the whole loop (see cpu_threads); a GPU needs no cap
    with cpu_threads(1) if device.type == "cpu" else nullcontext():
        xt = torch.from_numpy(x).to(device)
        yt = torch.from_numpy(y).to(device)
        # a fresh optimizer every call: FedAvg sends back weights only, optimizer state would be stale
        optimizer = h.optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
        loss_fn = nn.BCEWithLogitsLoss()
        model.train()
        steps = 0
        last_epoch_loss = float("nan")
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=generator).to(device)
            total, seen = 0.0, 0
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(model(xt[idx]), yt[idx])
                (loss + h.regularizer(model) if h.regularizer is not None else loss).backward()
                optimizer.step()
                if h.after_step is not None:
                    h.after_step(model)
                steps += 1
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            last_epoch_loss = total / max(seen, 1)
        return last_epoch_loss, steps


@torch.no_grad()
def score(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``{"auc", "loss"}`` of ``model`` on (x, y)."""
    device = next(model.parameters()).device
    model.eval()
    logits = model(torch.from_numpy(x).to(device))
    loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y).to(device))
    return {"auc": roc_auc(y, logits.cpu().numpy()), "loss": float(loss)}


def train_local(
    site_data: SiteData, epochs: int = 20, lr: float = 1e-3, batch_size: int = 32, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The local-only baseline: a fresh TabularNet trained on this site's train rows alone (CPU)."""
    torch.manual_seed(seed)
    model = TabularNet(n_features=site_data.n_features)
    fit(
        model,
        site_data.x_train,
        site_data.y_train,
        epochs,
        lr,
        batch_size,
        torch.Generator().manual_seed(seed),
    )
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def evaluate(state_dict: dict[str, torch.Tensor], site_data: SiteData) -> dict[str, float]:
    """AUC and BCE loss of a TabularNet with these weights on the site's test rows."""
    model = TabularNet(n_features=site_data.n_features)
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state_dict.items()})
    return score(model, site_data.x_test, site_data.y_test)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights from a checkpoint: NVFlare's ``FL_global_model.pt`` keeps them under ``"model"``, a plain
    ``torch.save(state_dict)`` is accepted too."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict):
        ckpt = ckpt["model"]
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: no state dict inside (got {type(ckpt).__name__})")
    return {str(k): torch.as_tensor(np.asarray(v)) for k, v in ckpt.items()}
