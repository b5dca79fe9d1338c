"""The federation's Prometheus series, held by the long-lived NVFlare parent processes (server and sites).

NVFlare's job processes come and go; each participant's parent process (SP on the server, CP on a site)
stays up and serves one stable ``/metrics`` port. Job processes send it *observations* (plain dicts, see
`FederationMetrics.apply`) over NVFlare's own cell network (`flarekube_workloads.monitoring`), and this
module turns them into series. Pure prometheus-client: no NVFlare import, so tests drive it directly.

Every label value is checked here, on the receiving side: the job code (a folder a user brings) decides
job names and metric names, so a value that is not a short plain name is refused, a job past the last
`MAX_JOBS` evicts the oldest job's series, and a job that reports more than `MAX_METRICS` metric names
keeps the first ones. Cardinality is bounded whatever a job sends.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # a job, site or project name
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
PHASES = ("running", "finished", "aborted")
FAILURE_REASONS = ("rejected", "timeout")
MAX_JOBS = 8  # jobs whose series a parent keeps (the newest); older jobs' series are removed
MAX_SITES = 256
MAX_METRICS = 16  # distinct metric names per job
ROUND_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
AGGREGATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

JOB = ("project", "namespace", "job")
SITE = ("project", "namespace", "site")
JOB_SITE = ("project", "namespace", "job", "site")


class FederationMetrics:
    """One participant's series, in a registry of its own (the parent serves exactly this registry)."""

    def __init__(self, project: str, namespace: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.project = checked(project) or "unknown"
        self.namespace = checked(namespace) or "unknown"
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, set[tuple[Any, tuple[str, ...]]]] = OrderedDict()  # job -> its series
        self._metric_names: dict[str, list[str]] = {}
        self._sites: set[str] = set()
        r = self.registry
        self.round_current = Gauge("flarekube_fl_round_current", "Round a job is in (1-based).", JOB, registry=r)
        self.rounds_done = Gauge("flarekube_fl_rounds_done", "Rounds a job has aggregated.", JOB, registry=r)
        self.rounds_planned = Gauge("flarekube_fl_rounds_planned", "Rounds a job asks for.", JOB, registry=r)
        self.round_seconds = Histogram("flarekube_fl_round_duration_seconds", "Time from a round's start to its "
                                       "aggregated model.", JOB, buckets=ROUND_BUCKETS, registry=r)  # fmt: skip
        self.aggregation_seconds = Histogram("flarekube_fl_aggregation_seconds", "Time the server took to "
                                             "aggregate a round.", JOB, buckets=AGGREGATION_BUCKETS,
                                             registry=r)  # fmt: skip
        self.contributors = Gauge("flarekube_fl_round_contributors", "Sites whose results the last completed "
                                  "round aggregated.", JOB, registry=r)  # fmt: skip
        self.last_round_time = Gauge("flarekube_fl_last_progress_timestamp_seconds", "Unix time a job last "
                                     "started or completed a round.", JOB, registry=r)  # fmt: skip
        self.job_phase = Gauge("flarekube_fl_job_phase", "1 for a job's phase (running, finished, aborted), "
                               "0 for the others.", (*JOB, "phase"), registry=r)  # fmt: skip
        self.site_last_round = Gauge("flarekube_fl_site_last_round", "The last round (1-based) a site's result "
                                     "was aggregated in.", JOB_SITE, registry=r)  # fmt: skip
        self.contributions = Counter("flarekube_fl_contributions", "Results of a site the server aggregated.",
                                     JOB_SITE, registry=r)  # fmt: skip
        self.failures = Counter("flarekube_fl_task_failures", "Train tasks of a site that failed: rejected "
                                "(an error result) or timeout (no result before the round closed).",
                                (*JOB_SITE, "reason"), registry=r)  # fmt: skip
        self.site_metric = Gauge("flarekube_fl_site_metric", "The latest value of a metric a site reported "
                                 "(its result's metrics, NVFlare's tracking API).", (*JOB_SITE, "metric"),
                                 registry=r)  # fmt: skip
        self.training_seconds = Histogram("flarekube_fl_site_training_seconds", "Time a site's train task took.",
                                          JOB_SITE, buckets=ROUND_BUCKETS, registry=r)  # fmt: skip
        self.site_connected = Gauge("flarekube_fl_site_connected", "1 while a site is connected to the server "
                                    "(seen from the server and from the site itself), else 0.", SITE,
                                    registry=r)  # fmt: skip
        self.dropped = Counter("flarekube_fl_dropped_observations", "Observations refused: an unchecked label "
                               "value or past a cardinality bound.", registry=r)  # fmt: skip
        self.dropped.inc(0)

    # -- observations ------------------------------------------------------------------------------------

    def apply(self, obs: Mapping[str, Any]) -> bool:
        """Apply one observation from a job process; False (and counted as dropped) when it is refused.

        Kinds: phase {job, phase}; round_started {job, round, planned?}; planned {job, planned};
        contribution {job, site, accepted, metrics?}; round_done {job, round, seconds, aggregation_seconds?,
        contributors, missing}; training {job, site, seconds}; site_metric {job, site, metrics}.
        """
        with self._lock:
            ok = self._apply(obs)
        if not ok:
            self.dropped.inc()
        return ok

    def _apply(self, obs: Mapping[str, Any]) -> bool:
        kind = obs.get("kind")
        job = self._job(obs.get("job"))
        if job is None:
            return False
        labels = (self.project, self.namespace, job)
        if kind == "phase":
            phase = obs.get("phase")
            if phase not in PHASES:
                return False
            for p in PHASES:
                self._gauge(job, self.job_phase, (*labels, p)).set(1 if p == phase else 0)
            if phase == "running":
                self._gauge(job, self.last_round_time, labels).set(time.time())
            return True
        if kind in ("round_started", "planned"):
            planned = _count(obs.get("planned"))
            if planned is not None:
                self._gauge(job, self.rounds_planned, labels).set(planned)
            if kind == "round_started":
                number = _count(obs.get("round"))
                if number is None:
                    return False
                self._gauge(job, self.round_current, labels).set(number)
                self._gauge(job, self.last_round_time, labels).set(time.time())
            return True
        if kind == "round_done":
            return self._round_done(job, labels, obs)
        site = self._site(obs.get("site"))
        if site is None:
            return False
        site_labels = (*labels, site)
        if kind == "contribution":
            for reason in FAILURE_REASONS:  # every site has both series from its first result: rate() sees 0s
                self._gauge(job, self.failures, (*site_labels, reason)).inc(0)
            if obs.get("accepted") is True:
                self._gauge(job, self.contributions, site_labels).inc()
            else:
                self._gauge(job, self.failures, (*site_labels, "rejected")).inc()
            self._metrics(job, site_labels, obs.get("metrics"))
            return True
        if kind == "site_metric":
            self._metrics(job, site_labels, obs.get("metrics"))
            return True
        if kind == "training":
            seconds = _seconds(obs.get("seconds"))
            if seconds is None:
                return False
            self._gauge(job, self.training_seconds, site_labels).observe(seconds)
            return True
        return False

    def _round_done(self, job: str, labels: tuple[str, ...], obs: Mapping[str, Any]) -> bool:
        number, seconds = _count(obs.get("round")), _seconds(obs.get("seconds"))
        if number is None or seconds is None:
            return False
        contributors = [s for s in map(self._site, _names(obs.get("contributors"))) if s is not None]
        missing = [s for s in map(self._site, _names(obs.get("missing"))) if s is not None]
        self._gauge(job, self.rounds_done, labels).set(number)
        self._gauge(job, self.round_seconds, labels).observe(seconds)
        aggregation = _seconds(obs.get("aggregation_seconds"))
        if aggregation is not None:
            self._gauge(job, self.aggregation_seconds, labels).observe(aggregation)
        self._gauge(job, self.contributors, labels).set(len(contributors))
        self._gauge(job, self.last_round_time, labels).set(time.time())
        for site in contributors:
            self._gauge(job, self.site_last_round, (*labels, site)).set(number)
        for site in missing:
            self._gauge(job, self.failures, (*labels, site, "timeout")).inc()
            # a site that never contributed still gets its series, so "missing K rounds" sees it
            self._gauge(job, self.site_last_round, (*labels, site)).inc(0)
        return True

    def _metrics(self, job: str, site_labels: tuple[str, ...], metrics: Any) -> None:
        if not isinstance(metrics, Mapping):
            return
        names = self._metric_names.setdefault(job, [])
        for name, value in metrics.items():
            if not isinstance(name, str) or not METRIC_NAME.match(name):
                self.dropped.inc()
                continue
            number = _float(value)
            if number is None:
                continue
            if name not in names:
                if len(names) >= MAX_METRICS:
                    self.dropped.inc()
                    continue
                names.append(name)
            self._gauge(job, self.site_metric, (*site_labels, name)).set(number)

    def set_connected(self, sites: Iterable[str], connected: Iterable[str]) -> None:
        """The server's (or a site's own) view: each of `sites` is 1 when in `connected`, else 0."""
        up = set(connected)
        with self._lock:
            for raw in sorted(set(sites) | up):
                site = self._site(raw)
                if site is not None:
                    self.site_connected.labels(self.project, self.namespace, site).set(1 if raw in up else 0)

    # -- bounded label values ---------------------------------------------------------------------------

    def _job(self, raw: Any) -> str | None:
        job = checked(raw)
        if job is None:
            return None
        if job not in self._jobs:
            while len(self._jobs) >= MAX_JOBS:
                old, series = self._jobs.popitem(last=False)
                for metric, labels in series:
                    metric.remove(*labels)
                self._metric_names.pop(old, None)
            self._jobs[job] = set()
        return job

    def _site(self, raw: Any) -> str | None:
        site = checked(raw)
        if site is None or (site not in self._sites and len(self._sites) >= MAX_SITES):
            return None
        self._sites.add(site)
        return site

    def _gauge(self, job: str, metric: Any, labels: tuple[str, ...]) -> Any:
        """The child of `metric` for `labels`, remembered so that evicting `job` removes it."""
        self._jobs[job].add((metric, labels))
        return metric.labels(*labels)


def checked(raw: Any) -> str | None:
    """`raw` when it is a short plain name (a Kubernetes/NVFlare name), else None."""
    return raw if isinstance(raw, str) and NAME.match(raw) else None


def _names(raw: Any) -> list[Any]:
    return list(raw)[:MAX_SITES] if isinstance(raw, list | tuple) else []


def _float(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if value == value and abs(value) != float("inf") else None


def _count(raw: Any) -> int | None:
    value = _float(raw)
    return int(value) if value is not None and 0 <= value <= 1_000_000 else None


def _seconds(raw: Any) -> float | None:
    value = _float(raw)
    return value if value is not None and 0 <= value <= 7 * 86400 else None
