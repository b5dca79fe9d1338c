"""Round progress and tracked metrics of ANY NVFlare server workflow, answered through `show_stats`.

flarekube's own FedAvg reports its progress itself (controllers.FaultTolerantFedAvg). A user's job runs
NVFlare's ScatterAndGather, FedAvg or another ModelController, which report little or nothing through
`show_stats`; flarekube adds this one component to the server app of its run copy of the job (never to the
user's folder). It counts rounds from the workflow's own events (ROUND_STARTED / ROUND_DONE /
BEFORE_AGGREGATION) and keeps the latest value of each metric the sites send through NVFlare's tracking API
(`nvflare.client.tracking`: SummaryWriter, MLflowWriter, WandBWriter; the sites' ConvertToFedEvent
forwards them as `fed.analytix_log_stats`), then answers `show_stats` under `stats_group`: the same shape
flarekube's FedAvg answers, so `flarekube.flare.job_progress` reads both.
"""

from __future__ import annotations

import threading
from typing import Any

from nvflare.apis.analytix import ANALYTIC_EVENT_TYPE, AnalyticsData
from nvflare.apis.dxo import from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable
from nvflare.app_common.app_constant import AppConstants
from nvflare.app_common.app_event_type import AppEventType
from nvflare.app_common.widgets.streaming import AnalyticsReceiver
from nvflare.widgets.info_collector import GroupInfoCollector, InfoCollector

FED_ANALYTICS = "fed." + ANALYTIC_EVENT_TYPE  # what ConvertToFedEvent makes of a site's tracking event


class RoundProgress(AnalyticsReceiver):
    def __init__(self, stats_group: str = "", events: list[str] | None = None) -> None:
        super().__init__(events=events or [FED_ANALYTICS])
        self.stats_group = str(stats_group)
        self.num_rounds: int | None = None
        self.first_round: int | None = None
        self.rounds_done = 0
        self.finished = False
        # site -> tag -> latest value (and the step it was logged at, when the site gave one)
        self.site_metrics: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        super().handle_event(event_type, fl_ctx)  # START_RUN / END_RUN / the analytics events
        if event_type == AppEventType.ROUND_STARTED:
            self._round(fl_ctx, done=False)
        elif event_type in (AppEventType.ROUND_DONE, AppEventType.BEFORE_AGGREGATION):
            self._round(fl_ctx, done=True)
        elif event_type == EventType.END_RUN:
            self.finished = True
        elif event_type == InfoCollector.EVENT_TYPE_GET_STATS and self.stats_group:
            collector = fl_ctx.get_prop(InfoCollector.CTX_KEY_STATS_COLLECTOR, None)
            if isinstance(collector, GroupInfoCollector):
                collector.add_info(group_name=self.stats_group, info=self.report())

    def _round(self, fl_ctx: FLContext, done: bool) -> None:
        current = fl_ctx.get_prop(AppConstants.CURRENT_ROUND)
        total = fl_ctx.get_prop(AppConstants.NUM_ROUNDS)
        if isinstance(total, int):
            self.num_rounds = total
        if not isinstance(current, int):
            return
        if self.first_round is None:
            self.first_round = current
        # A round that started means the ones before it are done; a round aggregated is done itself.
        done_now = current - self.first_round + (1 if done else 0)
        self.rounds_done = max(self.rounds_done, done_now)

    def report(self) -> dict[str, Any]:
        with self._lock:
            sites = {site: dict(tags) for site, tags in self.site_metrics.items()}
        return {"rounds_done": self.rounds_done, "num_rounds": self.num_rounds, "finished": self.finished,
                "metrics": {}, "site_metrics": sites}  # fmt: skip

    # --- AnalyticsReceiver: what the sites log through the tracking API ---------------------------------

    def initialize(self, fl_ctx: FLContext) -> None:
        pass

    def save(self, fl_ctx: FLContext, shareable: Shareable, record_origin: str) -> None:
        data = AnalyticsData.from_dxo(from_shareable(shareable))
        values = data.value if isinstance(data.value, dict) else {data.tag: data.value}
        with self._lock:
            tags = self.site_metrics.setdefault(str(record_origin), {})
            for tag, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    tags[str(tag)] = float(value)

    def finalize(self, fl_ctx: FLContext) -> None:
        pass
