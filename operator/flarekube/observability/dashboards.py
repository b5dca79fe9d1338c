"""The chart's Grafana dashboards as code (grafanalib): Federation overview, Operator health, Certificates, GPU.

`flarekube.observability.generate` writes each as `charts/flarekube/dashboards/<uid>.json`; the chart ships
one ConfigMap per file, labelled for Grafana's sidecar. `PANELS` lists every panel's queries, which the
tests evaluate through a real Prometheus (`tests/monitoring`): each must return data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

DATASOURCE = "${datasource}"
F = 'project=~"$project", namespace=~"$namespace", job=~"$job"'  # the federation dashboard's selection
P = 'project=~"$project", namespace=~"$namespace"'


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[str, ...]
    unit: str = "short"
    stat: bool = False  # a single number (Stat) rather than a time series
    legend: str = ""


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    variables: tuple[tuple[str, str], ...]  # (name, label_values query)
    panels: tuple[Panel, ...]


FEDERATION = Board(
    "flarekube-federation", "flarekube / Federation overview",
    (("namespace", "label_values(flarekube_fl_rounds_done, namespace)"),
     ("project", 'label_values(flarekube_fl_rounds_done{namespace=~"$namespace"}, project)'),
     ("job", 'label_values(flarekube_fl_rounds_done{namespace=~"$namespace", project=~"$project"}, job)')),
    (
        Panel("Rounds done", (f"max by (project, namespace, job) (flarekube_fl_rounds_done{{{F}}})",), stat=True),
        Panel("Rounds planned", (f"max by (project, namespace, job) (flarekube_fl_rounds_planned{{{F}}})",),
              stat=True),
        Panel("Current round", (f"max by (project, namespace, job) (flarekube_fl_round_current{{{F}}})",),
              stat=True),
        Panel("Job phase", (f"max by (job, phase) (flarekube_fl_job_phase{{{F}}}) == 1",), stat=True,
              legend="{{job}} {{phase}}"),
        Panel("Sites contributing to the last round",
              (f"max by (project, namespace, job) (flarekube_fl_round_contributors{{{F}}})",), stat=True),
        Panel("Round duration (mean)", (
            f"sum by (job) (flarekube_fl_round_duration_seconds_sum{{{F}}})"
            f" / sum by (job) (flarekube_fl_round_duration_seconds_count{{{F}}})",), unit="s"),
        Panel("Round duration p90", (
            "histogram_quantile(0.9, sum by (job, le) "
            f"(rate(flarekube_fl_round_duration_seconds_bucket{{{F}}}[$__rate_interval])))",), unit="s"),
        Panel("Aggregation time (mean)", (
            f"sum by (job) (flarekube_fl_aggregation_seconds_sum{{{F}}})"
            f" / sum by (job) (flarekube_fl_aggregation_seconds_count{{{F}}})",), unit="s"),
        Panel("Train loss per site", (f'max by (site) (flarekube_fl_site_metric{{{F}, metric="train_loss"}})',),
              legend="{{site}}"),
        Panel("Validation metric per site", (f'max by (site, metric) (flarekube_fl_site_metric{{{F}, '
              'metric=~"val_.*"})',), legend="{{site}} {{metric}}"),
        Panel("Last round each site contributed to", (f"max by (site) (flarekube_fl_site_last_round{{{F}}})",),
              legend="{{site}}"),
        Panel("Results aggregated per site", (f"sum by (site) (flarekube_fl_contributions_total{{{F}}})",),
              legend="{{site}}"),
        Panel("Task failures per site", (
            f"sum by (site, reason) (increase(flarekube_fl_task_failures_total{{{F}}}[$__range]))",),
            legend="{{site}} {{reason}}"),
        Panel("Training time per round (site, mean)", (
            f"sum by (site) (flarekube_fl_site_training_seconds_sum{{{F}}})"
            f" / sum by (site) (flarekube_fl_site_training_seconds_count{{{F}}})",), unit="s", legend="{{site}}"),
        Panel("Site connected", (f"min by (site) (flarekube_fl_site_connected{{{P}}})",), legend="{{site}}"),
        Panel("Seconds since the last round started or ended",
              (f"time() - max by (job) (flarekube_fl_last_progress_timestamp_seconds{{{F}}})",), unit="s"),
    ),
)  # fmt: skip

OPERATOR = Board(
    "flarekube-operator", "flarekube / Operator health",
    (("namespace", "label_values(flarekube_sites_total, namespace)"),
     ("project", 'label_values(flarekube_sites_total{namespace=~"$namespace"}, project)')),
    (
        Panel("Projects Ready", (f"sum(flarekube_project_ready{{{P}}})", f"count(flarekube_project_ready{{{P}}})"),
              stat=True),
        Panel("Sites connected (operator's view)", (f"sum(flarekube_sites_connected{{{P}}})",
              f"sum(flarekube_sites_total{{{P}}})"), stat=True),
        Panel("Jobs by phase", ('sum by (phase) (flarekube_job_phase{project=~"$project"})',), legend="{{phase}}"),
        Panel("Job progress", ('flarekube_job_round{project=~"$project"} / on (job, project) '
              'flarekube_job_rounds_total{project=~"$project"}',), unit="percentunit"),
        Panel("Global metric per job", ("flarekube_job_metric",), legend="{{job}} {{metric}}"),
        Panel("Reconcile latency p50 / p99", (
            "histogram_quantile(0.5, sum by (le, kind) (rate(flarekube_reconcile_seconds_bucket[$__rate_interval])))",
            "histogram_quantile(0.99, sum by (le, kind) (rate(flarekube_reconcile_seconds_bucket[$__rate_interval])))",
        ), unit="s"),
        Panel("Reconcile errors", ("sum by (kind) (rate(flarekube_reconcile_errors_total[$__rate_interval]))",),
              unit="ops"),
    ),
)  # fmt: skip

CERTIFICATES = Board(
    "flarekube-certificates", "flarekube / Certificates",
    (("namespace", "label_values(flarekube_certificate_expiry_timestamp_seconds, namespace)"),
     ("project", 'label_values(flarekube_certificate_expiry_timestamp_seconds{namespace=~"$namespace"}, project)')),
    (
        Panel("Days until the first certificate expires", (
            f"min by (project) (flarekube_certificate_expiry_timestamp_seconds{{{P}}} - time()) / 86400",), stat=True),
        Panel("Days until expiry, per certificate", (
            f"(flarekube_certificate_expiry_timestamp_seconds{{{P}}} - time()) / 86400",),
            legend="{{participant}} ({{kind}})"),
        Panel("Renewal window (days)", (f"flarekube_certificate_renewal_window_seconds{{{P}}} / 86400",), stat=True),
        Panel("Renewing now", (f"max by (project) (flarekube_certificate_renewing{{{P}}})",), stat=True),
    ),
)  # fmt: skip

# NVIDIA's DCGM exporter (the GPU Operator's): its standard series, per GPU and per pod.
GPU = Board(
    "flarekube-gpu", "flarekube / GPU (DCGM)",
    (("namespace", "label_values(DCGM_FI_DEV_GPU_UTIL, namespace)"),),
    (
        Panel("GPU utilisation", ('avg by (pod, gpu) (DCGM_FI_DEV_GPU_UTIL{namespace=~"$namespace"})',),
              unit="percent", legend="{{pod}} gpu {{gpu}}"),
        Panel("GPU memory used", ('sum by (pod) (DCGM_FI_DEV_FB_USED{namespace=~"$namespace"})',), unit="decmbytes",
              legend="{{pod}}"),
        Panel("GPU memory free", ('sum by (pod) (DCGM_FI_DEV_FB_FREE{namespace=~"$namespace"})',), unit="decmbytes",
              legend="{{pod}}"),
        Panel("Power", ('sum by (pod) (DCGM_FI_DEV_POWER_USAGE{namespace=~"$namespace"})',), unit="watt",
              legend="{{pod}}"),
        Panel("Temperature", ('max by (pod, gpu) (DCGM_FI_DEV_GPU_TEMP{namespace=~"$namespace"})',), unit="celsius",
              legend="{{pod}} gpu {{gpu}}"),
        Panel("Tensor core activity", ('avg by (pod) (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{namespace=~"$namespace"})',),
              unit="percentunit", legend="{{pod}}"),
    ),
)  # fmt: skip

BOARDS = (FEDERATION, OPERATOR, CERTIFICATES, GPU)


def _panel(p: Panel, i: int) -> Any:
    targets = [g.Target(expr=e, legendFormat=p.legend, refId=chr(ord("A") + n), datasource=DATASOURCE)
               for n, e in enumerate(p.exprs)]
    pos = g.GridPos(h=4 if p.stat else 8, w=6 if p.stat else 12, x=0, y=i * 8)
    if p.stat:
        return g.Stat(title=p.title, dataSource=DATASOURCE, targets=targets, format=p.unit, gridPos=pos,
                      reduceCalc="lastNotNull")
    return g.TimeSeries(title=p.title, dataSource=DATASOURCE, targets=targets, unit=p.unit, gridPos=pos)


def _layout(panels: list[Any]) -> list[Any]:
    """Stats four to a row at the top, time series two to a row below them."""
    x = y = 0
    row_h = 0
    for p in panels:
        w, h = p.gridPos.w, p.gridPos.h
        if x + w > 24:
            x, y = 0, y + row_h
            row_h = 0
        p.gridPos = g.GridPos(h=h, w=w, x=x, y=y)
        x, row_h = x + w, max(row_h, h)
    return panels


def dashboard(board: Board) -> dict[str, Any]:
    """One dashboard as Grafana's JSON model (a plain dict)."""
    variables = [g.Template(name="datasource", label="Data source", query="prometheus", type="datasource")]
    for name, query in board.variables:
        variables.append(g.Template(name=name, label=name.capitalize(), query=query, dataSource=DATASOURCE,
                                    includeAll=True, multi=True, allValue=".*", default="$__all"))
    panels = sorted((_panel(p, i) for i, p in enumerate(board.panels)), key=lambda p: -int(isinstance(p, g.Stat)))
    model = g.Dashboard(
        title=board.title, uid=board.uid, tags=["flarekube", "nvflare"], timezone="browser", refresh="30s",
        templating=g.Templating(list=variables), panels=_layout(panels), editable=True,
    ).auto_panel_ids()
    data: dict[str, Any] = json.loads(json.dumps(model.to_json_data(), cls=DashboardEncoder))
    return data


def render(board: Board) -> str:
    return json.dumps(dashboard(board), indent=2, sort_keys=True) + "\n"


def queries(board: Board) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    return [(p.title, e) for p in board.panels for e in p.exprs]
