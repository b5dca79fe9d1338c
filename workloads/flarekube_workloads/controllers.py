"""Server-side FedAvg that survives a lost site and reports its progress to the operator.

Plain NVFlare FedAvg sends each round to every sampled site and waits for all of them: a site killed
mid-round (its pod restarted, its job process gone) leaves the round -- and the job -- RUNNING for as long
as nobody aborts it. `FaultTolerantFedAvg` lets a round close once `min_responses` results are in and
`round_timeout` more seconds have passed for the rest (see docs/fault-tolerance.md); a round that ends
with fewer than `min_responses` results fails the job instead of aggregating too little.

It also answers NVFlare's `show_stats` with the round it is in and the latest aggregated metrics, which
is how the operator fills an FLJob's ROUND and METRIC columns without reading any site's files.
"""

from __future__ import annotations

import time
from typing import Any

from nvflare.apis.fl_context import FLContext
from nvflare.app_common.abstract.fl_model import FLModel
from nvflare.app_common.workflows.fedavg import FedAvg
from nvflare.widgets.info_collector import GroupInfoCollector, InfoCollector


class FaultTolerantFedAvg(FedAvg):
    def __init__(self, *args: Any, min_responses: int = 0, round_timeout: int = 0, linger: int = 0,
                 stats_group: str = "", **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        # The show_stats group flarekube reads progress from (flarekube_workloads.contract.STATS_GROUP),
        # passed in by the job config (the job names this class; it runs from the installed package).
        # Empty: report nothing.
        self.stats_group = str(stats_group)
        self.min_responses = int(min_responses)  # 0: every sampled site
        self.round_timeout = int(round_timeout)
        # Seconds to stay up after the last round so that a poller (the operator, every few seconds) sees
        # the final round and metrics: once the workflow returns, show_stats has nobody to ask.
        self.linger = int(linger)
        self.rounds_done = 0
        self.finished = False
        self.latest_metrics: dict[str, float] = {}

    def run(self) -> None:
        super().run()
        self.finished = not self.abort_signal.triggered
        deadline = time.monotonic() + self.linger
        while self.finished and time.monotonic() < deadline and not self.abort_signal.triggered:
            time.sleep(0.5)

    def send_model(
        self,
        task_name: str = "train",
        data: FLModel | None = None,
        targets: list[str] | None = None,
        min_responses: int | None = None,
        timeout: int = 0,
        callback: Any = None,
    ) -> None:
        wanted = len(targets) if targets else 0
        minimum = min(self.min_responses, wanted) if self.min_responses and wanted else self.min_responses
        # Once `minimum` results are in, give the others `round_timeout` seconds, then close the round.
        self.broadcast_model(
            task_name=task_name,
            data=data,
            targets=targets,
            min_responses=minimum or None,
            timeout=timeout,
            wait_time_after_min_received=self.round_timeout if minimum else 0,
            blocking=False,
            callback=callback,
        )

    def update_model(self, model: FLModel, aggr_result: FLModel) -> FLModel:
        received = self._received_count
        if self.min_responses and received < min(self.min_responses, max(self._expected_count, 1)):
            self.panic(f"round {self.current_round}: {received} results, fewer than min_responses={self.min_responses}")
        updated = super().update_model(model, aggr_result)
        self.rounds_done = (self.current_round or 0) - self.start_round + 1
        metrics = aggr_result.metrics or {}
        self.latest_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        return updated

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        super().handle_event(event_type, fl_ctx)
        if event_type == InfoCollector.EVENT_TYPE_GET_STATS and self.stats_group:
            collector = fl_ctx.get_prop(InfoCollector.CTX_KEY_STATS_COLLECTOR, None)
            if isinstance(collector, GroupInfoCollector):
                collector.add_info(
                    group_name=self.stats_group,
                    info={
                        "rounds_done": self.rounds_done,
                        "num_rounds": self.num_rounds,
                        "current_round": self.current_round,
                        "finished": self.finished,
                        "metrics": dict(self.latest_metrics),
                    },
                )
