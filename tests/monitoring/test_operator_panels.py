"""The Operator health dashboard through a real Prometheus: the operator's own registry (flarekube.metrics)
set as the handlers set it, served over HTTP, scraped, and every panel evaluated through the HTTP API.

No cluster here (the cluster tests run the real operator); no NVFlare.
"""

from __future__ import annotations

import time
from pathlib import Path

from flarekube import metrics
from flarekube.observability import dashboards
from prometheus_client import start_http_server

from tests.support.prometheus import Prometheus, free_port, grafana, wait_for


def test_every_operator_panel_returns_the_operators_values(tmp_path: Path) -> None:
    metrics.PROJECT_READY.labels("crc", "fl").set(1)
    metrics.SITES_CONNECTED.labels("crc", "fl").set(2)
    metrics.SITES_TOTAL.labels("crc", "fl").set(3)
    for phase in ("Pending", "Running", "Succeeded", "Failed"):
        metrics.JOB_PHASE.labels("fedavg", "crc", phase).set(1 if phase == "Running" else 0)
    metrics.JOB_ROUND.labels("fedavg", "crc").set(2)
    metrics.JOB_ROUNDS_TOTAL.labels("fedavg", "crc").set(4)
    metrics.JOB_METRIC.labels("fedavg", "val_auc").set(0.91)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=metrics.REGISTRY)
    job = {"job_name": "flarekube-metrics", "honor_labels": True,
           "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}  # fmt: skip
    with Prometheus(tmp_path / "prometheus", [job]) as prom:
        wait_for(lambda: prom.query('up{job="flarekube-metrics"} == 1'), "the operator's target")
        for _ in range(12):  # reconciles (and a failing one) while Prometheus scrapes every second
            metrics.RECONCILE_SECONDS.labels("FLProject").observe(0.03)
            metrics.RECONCILE_ERRORS.labels("FLProject").inc()
            time.sleep(0.5)
        time.sleep(1.5)
        empty = [f"{title}: {expr}" for title, expr in dashboards.queries(dashboards.OPERATOR)
                 if not prom.query(grafana(expr))]  # fmt: skip
        assert not empty, "operator panels without data:\n" + "\n".join(empty)
        value = {e: float(prom.query(grafana(e))[0]["value"][1]) for _, e in dashboards.queries(dashboards.OPERATOR)}
        ready, projects = dashboards.OPERATOR.panels[0].exprs
        assert (value[ready], value[projects]) == (1, 1)
        connected, total = dashboards.OPERATOR.panels[1].exprs
        assert (value[connected], value[total]) == (2, 3)
        assert value[dashboards.OPERATOR.panels[3].exprs[0]] == 0.5  # 2 of 4 rounds
        p50 = dashboards.OPERATOR.panels[5].exprs[0]
        assert 0.025 <= value[p50] <= 0.05  # every reconcile took 0.03 s: inside its bucket
        assert value[dashboards.OPERATOR.panels[6].exprs[0]] > 0
