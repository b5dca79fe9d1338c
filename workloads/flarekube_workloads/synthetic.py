"""The synthetic 28 MB case of bench/bench_rounds.py: a model of DenseNet-121's size and a Client API loop that
"trains" for a fixed time, so that a round's time minus the local time is what the federation itself costs
(task fetch, serialization both ways, upload, aggregation). Installed with the workloads so that the server's
class allow-list (flarekube_workloads.*) admits the model; no FLJob kind names it."""

from __future__ import annotations

import logging
import time

import torch
from torch import nn

TRAIN_SECONDS = 0.2
WIDTH = 2650  # one 2650 x 2650 float32 layer: 7.0 M parameters, 28 MB
log = logging.getLogger("flarekube_workloads.synthetic")


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


def main() -> None:
    """Logs the measured local time of every round ("synthetic train") for the bench to subtract."""
    import nvflare.client as flare
    from nvflare.app_common.abstract.fl_model import FLModel

    flare.init()
    while flare.is_running():
        model = flare.receive()
        if model is None:
            break
        started = time.perf_counter()
        params = {k: torch.as_tensor(v) for k, v in (model.params or {}).items()}
        time.sleep(TRAIN_SECONDS)
        # full weights: the Client API sends the difference (the job's params_transfer_type is DIFF)
        trained = {k: v + 1e-3 for k, v in params.items()}
        log.info("synthetic train %.3f s round %s", time.perf_counter() - started, model.current_round)
        flare.send(FLModel(params=trained, meta={"NUM_STEPS_CURRENT_ROUND": 1}))


if __name__ == "__main__":
    main()
