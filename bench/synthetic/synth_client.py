"""Client API loop of the 28 MB case: receive the model, "train" for a fixed time, send the changed weights.

The training is a fixed sleep plus one in-place update, so a round's time minus TRAIN_SECONDS is what the
federation itself costs (task fetch, serialization both ways, upload, aggregation). Logs the measured local
time of every round ("synthetic train") for the bench to subtract."""

from __future__ import annotations

import logging
import time

import torch

TRAIN_SECONDS = 0.2
log = logging.getLogger("synthetic")


def main() -> None:
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
