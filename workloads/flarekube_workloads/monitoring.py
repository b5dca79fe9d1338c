"""`FederationMonitor`: federation metrics for every job, flarekube's own and a folder a user brings.

`builders/sitelocal.py` adds this component to every participant's `local/resources.json`, whose
components NVFlare builds in the long-lived parent process (SP/CP), and to `local/privacy.json`, whose
components NVFlare adds to every job process it starts (as the job runner's event handlers; the one
site-level way into every job, a user's folder included). So one class plays two parts:

- in the parent (it sees ``SYSTEM_START``): serve ``/metrics`` on `port` from a registry of its own
  (`federation_metrics.FederationMetrics`) and listen on the parent's cell for observations; on the
  server, poll the connected sites;
- in a job process: turn NVFlare's events (rounds, contributions, aggregation, train tasks, the tracking
  API's ``analytix_log_stats``) into small observation dicts and send them to the parent cell over
  NVFlare's own cell network (``fire_and_forget`` to the FQCN's parent). Nothing in the job is changed.

The parent checks every value it receives (`FederationMetrics.apply`), so no label is taken unchecked
from job code. A failure to observe or to send never fails the job: metrics are best effort.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from nvflare.apis.analytix import ANALYTIC_EVENT_TYPE, AnalyticsData, AnalyticsDataType
from nvflare.apis.dxo import from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.server_engine_spec import ServerEngineSpec
from nvflare.apis.shareable import ReservedHeaderKey, Shareable
from nvflare.app_common.app_constant import AppConstants
from nvflare.app_common.app_event_type import AppEventType
from nvflare.app_common.utils.fl_model_utils import FLModelUtils

from flarekube_workloads.federation_metrics import FederationMetrics, checked

CHANNEL = "flarekube_metrics"
TOPIC = "observation"
POLL_SECONDS = 2.0
log = logging.getLogger(__name__)


class FederationMonitor(FLComponent):
    def __init__(self, port: int, project: str = "", namespace: str = "", sites: list[str] | None = None,
                 host: str = "") -> None:  # fmt: skip
        super().__init__()
        self.port = int(port)
        self.host = str(host)  # "" = every interface (a pod); flarekube run passes 127.0.0.1
        self.project, self.namespace = str(project), str(namespace)
        self.sites = [s for s in (sites or []) if checked(s)]
        self.metrics: FederationMetrics | None = None  # set in the parent only
        self._stop = threading.Event()
        self._job: _JobState | None = None  # set in a job process only

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        try:
            if event_type == EventType.SYSTEM_START:
                self._start_parent(fl_ctx)
            elif event_type == EventType.SYSTEM_END:
                self._stop.set()
            elif self.metrics is not None:
                self._parent_event(event_type, fl_ctx)
            else:
                self._job_event(event_type, fl_ctx)
        except Exception as error:  # metrics never fail a job
            log.warning("flarekube metrics: %s on %s: %s", type(error).__name__, event_type, error)

    # -- the parent process ------------------------------------------------------------------------------

    def _start_parent(self, fl_ctx: FLContext) -> None:
        from prometheus_client import disable_created_metrics, start_http_server

        if self.metrics is not None:
            return
        disable_created_metrics()  # this process exposes only this registry; *_created series are noise
        metrics = FederationMetrics(self.project, self.namespace)
        start_http_server(self.port, addr=self.host or "0.0.0.0", registry=metrics.registry)
        self.metrics = metrics
        engine = fl_ctx.get_engine()
        cell = engine.get_cell()
        if cell is not None:
            cell.register_request_cb(channel=CHANNEL, topic=TOPIC, cb=self._receive)
        else:  # the client's cell exists only once it has registered with the server
            self._cell_pending = True
        self.me = fl_ctx.get_identity_name()
        if hasattr(engine, "get_clients"):  # the server: who is connected, polled
            threading.Thread(target=self._poll_clients, args=(engine,), daemon=True).start()
        log.info("flarekube metrics: serving /metrics on port %d", self.port)

    def _parent_event(self, event_type: str, fl_ctx: FLContext) -> None:
        metrics = self.metrics
        assert metrics is not None
        if event_type == EventType.AFTER_CLIENT_REGISTER and getattr(self, "_cell_pending", False):
            cell = fl_ctx.get_engine().get_cell()
            if cell is not None:
                cell.register_request_cb(channel=CHANNEL, topic=TOPIC, cb=self._receive)
                self._cell_pending = False
        if event_type in (EventType.AFTER_CLIENT_REGISTER, EventType.AFTER_CLIENT_HEARTBEAT):
            metrics.set_connected([self.me], [self.me])

    def _poll_clients(self, engine: Any) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                connected = [c.name for c in engine.get_clients()]
            except Exception:
                continue
            assert self.metrics is not None
            self.metrics.set_connected(self.sites, connected)

    def _receive(self, request: Any) -> None:
        payload = getattr(request, "payload", None)
        if isinstance(payload, dict) and self.metrics is not None:
            self.metrics.apply(payload)
        return None

    # -- a job process -----------------------------------------------------------------------------------

    def _job_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            server = isinstance(fl_ctx.get_engine(), ServerEngineSpec)
            self._job = _JobState(_job_name(fl_ctx), fl_ctx.get_identity_name(), server)
            if server:  # the job's phase and progress are the server's to tell (a site's job may start late)
                self._send(fl_ctx, {"kind": "phase", "phase": "running"})
            return
        job = self._job
        if job is None:
            return
        if event_type == EventType.END_RUN and job.server:
            signal = fl_ctx.get_run_abort_signal()
            aborted = signal is not None and signal.triggered and job.rounds_done < (job.planned or 0)
            self._send(fl_ctx, {"kind": "phase", "phase": "aborted" if aborted else "finished"})
        elif event_type == AppEventType.ROUND_STARTED:
            self._round_started(fl_ctx, job)
        elif event_type == AppEventType.BEFORE_TRAIN_TASK:
            self._planned(fl_ctx, job, fl_ctx.get_prop(AppConstants.TRAIN_SHAREABLE))
        elif event_type == AppEventType.BEFORE_AGGREGATION:
            job.aggregation_started = time.monotonic()
        elif event_type == AppEventType.AFTER_CONTRIBUTION_ACCEPT:
            self._contribution(fl_ctx, job)
        elif event_type in (AppEventType.AFTER_AGGREGATION, AppEventType.ROUND_DONE):
            self._round_done(fl_ctx, job)
        elif event_type == EventType.BEFORE_TASK_EXECUTION:
            job.task_started = time.monotonic() if _task_name(fl_ctx) == AppConstants.TASK_TRAIN else None
        elif event_type == EventType.AFTER_TASK_EXECUTION and job.task_started is not None:
            seconds, job.task_started = time.monotonic() - job.task_started, None
            self._send(fl_ctx, {"kind": "training", "site": job.me, "seconds": seconds})
        elif event_type == ANALYTIC_EVENT_TYPE:
            self._tracked(fl_ctx, job)

    def _round_started(self, fl_ctx: FLContext, job: _JobState) -> None:
        current = fl_ctx.get_prop(AppConstants.CURRENT_ROUND)
        if job.start_round is None:
            job.start_round = int(current or 0)
        job.round = int(current or 0) - job.start_round + 1
        job.round_started, job.aggregation_started, job.closed = time.monotonic(), None, False
        job.contributed = []
        try:  # the sites this round can expect results from: those connected now
            job.expected = [c.name for c in fl_ctx.get_engine().get_clients()]
        except Exception:
            job.expected = []
        planned = fl_ctx.get_prop(AppConstants.NUM_ROUNDS)
        if isinstance(planned, int):
            job.planned = planned
        self._send(fl_ctx, {"kind": "round_started", "round": job.round, "planned": job.planned})

    def _planned(self, fl_ctx: FLContext, job: _JobState, task_data: Any) -> None:
        if job.planned is None and isinstance(task_data, Shareable):
            planned = task_data.get_header(AppConstants.NUM_ROUNDS)
            if isinstance(planned, int):
                job.planned = planned
                self._send(fl_ctx, {"kind": "planned", "planned": planned})

    def _contribution(self, fl_ctx: FLContext, job: _JobState) -> None:
        peer = fl_ctx.get_peer_context()
        site = peer.get_identity_name() if peer is not None else None
        result = fl_ctx.get_prop(AppConstants.TRAINING_RESULT)
        if site is None and isinstance(result, Shareable):
            site = result.get_peer_prop(ReservedKey.IDENTITY_NAME, None)
        accepted = fl_ctx.get_prop(AppConstants.AGGREGATION_ACCEPTED)
        accepted = bool(accepted) if accepted is not None else True
        metrics: dict[str, float] = {}
        if isinstance(result, Shareable):
            try:
                model_metrics = FLModelUtils.from_shareable(result).metrics or {}
                metrics = {k: float(v) for k, v in model_metrics.items() if isinstance(v, int | float)}
            except Exception:  # a result that is no FLModel (an error result) carries no metrics
                metrics = {}
        if accepted and site:
            job.contributed.append(site)
        self._send(fl_ctx, {"kind": "contribution", "site": site, "accepted": accepted, "metrics": metrics})

    def _round_done(self, fl_ctx: FLContext, job: _JobState) -> None:
        if job.closed or job.round_started is None:
            return  # ScatterAndGather fires both AFTER_AGGREGATION and ROUND_DONE: the first closes the round
        job.closed = True
        job.rounds_done = job.round
        now = time.monotonic()
        contributed = list(dict.fromkeys(job.contributed))
        self._send(fl_ctx, {
            "kind": "round_done",
            "round": job.round,
            "seconds": now - job.round_started,
            "aggregation_seconds": None if job.aggregation_started is None else now - job.aggregation_started,
            "contributors": contributed,
            "missing": [s for s in job.expected if s not in contributed],
        })  # fmt: skip

    def _tracked(self, fl_ctx: FLContext, job: _JobState) -> None:
        data = fl_ctx.get_prop(FLContextKey.EVENT_DATA)
        if not isinstance(data, Shareable):
            return
        record = AnalyticsData.from_dxo(from_shareable(data))
        if record.data_type == AnalyticsDataType.SCALAR:
            values = {record.tag: record.value}
        elif record.data_type == AnalyticsDataType.SCALARS and isinstance(record.value, dict):
            values = dict(record.value)
        else:
            return
        self._send(fl_ctx, {"kind": "site_metric", "site": job.me, "metrics": values})

    def _send(self, fl_ctx: FLContext, observation: dict[str, Any]) -> None:
        from nvflare.fuel.f3.cellnet.fqcn import FQCN
        from nvflare.fuel.f3.message import Message

        assert self._job is not None
        cell = fl_ctx.get_engine().get_cell()
        if cell is None:
            return
        parent = FQCN.get_parent(cell.get_fqcn())
        message = Message(payload={**observation, "job": self._job.name})
        cell.fire_and_forget(channel=CHANNEL, topic=TOPIC, targets=[parent], message=message, optional=True)


def _task_name(fl_ctx: FLContext) -> str | None:
    """The task a site is about to execute (ClientRunner puts it in the task data's headers)."""
    data = fl_ctx.get_prop(FLContextKey.TASK_DATA)
    name = data.get_header(ReservedHeaderKey.TASK_NAME) if isinstance(data, Shareable) else None
    return str(name) if name is not None else fl_ctx.get_prop(FLContextKey.TASK_NAME)


def _job_name(fl_ctx: FLContext) -> str:
    """The job's name from its meta (the FLJob's name for flarekube's jobs), else its id."""
    job_id = str(fl_ctx.get_job_id() or "job")
    meta = fl_ctx.get_prop(FLContextKey.JOB_META)
    if not isinstance(meta, dict):
        try:  # the job process has the meta in its workspace
            path = fl_ctx.get_engine().get_workspace().get_job_meta_path(job_id)
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except Exception:
            meta = {}
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and checked(name) else job_id


class _JobState:
    """What a job process remembers between events (one job per process)."""

    def __init__(self, name: str, me: str, server: bool) -> None:
        self.name, self.me, self.server = name, me, server
        self.start_round: int | None = None
        self.round = 0
        self.rounds_done = 0
        self.planned: int | None = None
        self.round_started: float | None = None
        self.aggregation_started: float | None = None
        self.task_started: float | None = None
        self.closed = False
        self.contributed: list[str] = []
        self.expected: list[str] = []
