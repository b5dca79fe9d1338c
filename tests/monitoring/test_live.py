"""A real Prometheus scrapes a live `flarekube run --metrics-port`; every panel and alert is evaluated.

The run: 2 sites, 3 rounds of the tabular workload. Prometheus scrapes the server's and both sites'
/metrics every second; after the run, every query of the Federation and Certificates dashboards and every
alert expression is evaluated through the HTTP API at the last scraped moment, and the values are compared
with what the run itself wrote (summary.json, metrics.csv) and with the kit store's certificate ledger.
Panels whose series cannot exist here (GPU, the operator's) are checked on promtool fixtures
(test_rules.py, test_panels_fixtures.py).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube import metrics as operator_metrics
from flarekube.observability import alerts, dashboards
from flarekube.provisioning import LocalKitStore
from flarekube.provisioning.ledger import decode_ledger
from prometheus_client import start_http_server

from tests.support.federation import job_doc, nvflare_processes, project_doc
from tests.support.prometheus import Prometheus, free_port, grafana, wait_for

pytestmark = pytest.mark.nvflare

ROUNDS, SITES = 3, ("site-1", "site-2")
TABULAR = {"kind": "clinical-tabular", "localEpochs": 1, "learningRate": 0.001, "batchSize": 32}
def _port_block(n: int) -> int:
    """A port with the n - 1 after it free too (the server's, then one per site)."""
    for _ in range(50):
        base = free_port()
        if base + n < 65535 and all(_free(base + i) for i in range(n)):
            return base
    raise AssertionError("no block of free ports")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _serve_certificates(tmp_path: Path) -> int:
    """The operator's certificate gauges, read from this run's real ledger, served like the operator does."""
    ledger = decode_ledger(LocalKitStore(tmp_path / "state" / "flarekube" / "montest" / "kits").get_ledger())
    assert ledger.entries, "the kit store has no ledger"
    operator_metrics.record_certificates("montest", "local", ledger, None, 30, renewing=False)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=operator_metrics.REGISTRY)
    return port


def test_prometheus_sees_every_round_of_a_live_run(tmp_path: Path) -> None:
    base = _port_block(1 + len(SITES))
    spec = tmp_path / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all([project_doc("montest", len(SITES)),
                                        job_doc("tab", "montest", ROUNDS, len(SITES), TABULAR)]))  # fmt: skip
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(alerts.rules_file()))
    federation = {
        "job_name": "flarekube-federation",
        "honor_labels": True,  # the series' own `job` (the FL job) and `namespace` win over the target's
        "static_configs": [
            {"targets": [f"127.0.0.1:{base}"], "labels": {"flarekube_component": "server"}},
            {"targets": [f"127.0.0.1:{base + 1 + i}" for i in range(len(SITES))],
             "labels": {"flarekube_component": "site"}},
        ],
    }  # fmt: skip
    env = {**os.environ, "COLUMNS": "120", "XDG_STATE_HOME": str(tmp_path / "state")}
    out = tmp_path / "out"
    operator_job: dict[str, Any] = {"job_name": "flarekube-metrics", "honor_labels": True, "static_configs": []}
    with Prometheus(tmp_path / "prometheus", [federation, operator_job], rules) as prom:
        run = subprocess.run(
            [sys.executable, "-m", "flarekube", "run", str(spec), "--out", str(out), "--no-compare",
             "--metrics-port", str(base)],
            capture_output=True, text=True, timeout=400, env=env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        # The certificates' gauges come from the operator on a cluster; here, from this run's ledger.
        cert_port = _serve_certificates(tmp_path)
        prom.config.write_text(prom.config.read_text().replace(
            "static_configs: []", f"static_configs: [{{targets: ['127.0.0.1:{cert_port}']}}]"))  # fmt: skip
        _reload(prom)
        wait_for(lambda: prom.query("flarekube_certificate_expiry_timestamp_seconds"), "certificate gauges")
        at = _last_scrape(prom)
        _check_values(prom, at, out)
        _check_every_panel(prom, at)
        _check_alerts_silent(prom, at)
    assert nvflare_processes(str(tmp_path)) == []


def _reload(prom: Prometheus) -> None:
    assert prom.proc is not None
    prom.proc.send_signal(1)  # SIGHUP: Prometheus re-reads its configuration


def _last_scrape(prom: Prometheus) -> float:
    """A moment just before the first participant stopped: every target was still up, the job was over.

    The run is over, so its series went stale after it; the server and sites stop one after another."""
    data = prom.api("query", query='up{job="flarekube-federation"}[20m]')
    assert len(data["result"]) == 1 + len(SITES), data["result"]
    last_up = [max(float(ts) for ts, v in series["values"] if v == "1") for series in data["result"]]
    return min(last_up) - 1.5


def _one(prom: Prometheus, expr: str, at: float) -> dict[str, float]:
    """{site or job or '': value} of an instant query."""
    result = prom.query(expr, at)
    return {(r["metric"].get("site") or r["metric"].get("job") or ""): float(r["value"][1]) for r in result}


def _check_values(prom: Prometheus, at: float, out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "FINISHED:COMPLETED"
    sel = 'project="montest", namespace="local", job="tab"'
    assert _one(prom, f"flarekube_fl_rounds_done{{{sel}}}", at) == {"tab": ROUNDS}
    assert _one(prom, f"flarekube_fl_rounds_planned{{{sel}}}", at) == {"tab": ROUNDS}
    assert _one(prom, f"flarekube_fl_round_current{{{sel}}}", at) == {"tab": ROUNDS}
    assert _one(prom, f"flarekube_fl_round_contributors{{{sel}}}", at) == {"tab": len(SITES)}
    assert _one(prom, f"flarekube_fl_site_last_round{{{sel}}}", at) == dict.fromkeys(SITES, ROUNDS)
    assert _one(prom, f"flarekube_fl_contributions_total{{{sel}}}", at) == dict.fromkeys(SITES, ROUNDS)
    assert _one(prom, f"flarekube_fl_round_duration_seconds_count{{{sel}}}", at) == {"tab": ROUNDS}
    assert _one(prom, f"flarekube_fl_aggregation_seconds_count{{{sel}}}", at) == {"tab": ROUNDS}
    training = _one(prom, f"flarekube_fl_site_training_seconds_count{{{sel}}}", at)
    assert training == dict.fromkeys(SITES, ROUNDS)
    assert set(_one(prom, f"sum by (site) (flarekube_fl_task_failures_total{{{sel}}})", at).values()) == {0}
    assert _one(prom, "min by (site) (flarekube_fl_site_connected)", at) == dict.fromkeys(SITES, 1)
    assert _one(prom, 'up{flarekube_component="server"}', at) == {"flarekube-federation": 1}
    # each site's last train loss and validation AUC are the ones the site itself recorded (metrics.csv)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    for metric in ("train_loss", "val_auc"):
        wanted = {r["site"]: float(r["value"]) for r in rows if r["metric"] == metric and int(r["round"]) == ROUNDS}
        got = _one(prom, f'flarekube_fl_site_metric{{{sel}, metric="{metric}"}}', at)
        assert got.keys() == set(SITES), metric
        for site in SITES:
            assert got[site] == pytest.approx(wanted[site], rel=1e-6), (metric, site)
    phase = prom.query(f'flarekube_fl_job_phase{{{sel}}} == 1', at)
    assert [r["metric"]["phase"] for r in phase] in (["finished"], ["running"])


def _check_every_panel(prom: Prometheus, at: float) -> None:
    empty = []
    for board in (dashboards.FEDERATION, dashboards.CERTIFICATES):
        for title, expr in dashboards.queries(board):
            # the certificate target joined after the run: evaluate its panels now, the rest at the run's end
            when = time.time() if board is dashboards.CERTIFICATES else at
            if not prom.query(grafana(expr), when):
                empty.append(f"{board.uid}: {title}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    for _, query in dashboards.FEDERATION.variables:
        values = prom.api("label/" + query.split(", ")[-1].rstrip(")") + "/values")
        assert values, query


def _check_alerts_silent(prom: Prometheus, at: float) -> None:
    """Every alert expression evaluates; in a healthy run none of the federation's matches anything."""
    for rule in alerts.rules_file()["groups"][0]["rules"]:
        # the certificate gauges were scraped after the run: ask about them now
        result = prom.query(rule["expr"], time.time() if "certificate" in rule["expr"] else at)
        if rule["alert"] in ("FlarekubeServerDown", "FlarekubeSiteDisconnected", "FlarekubeJobStalled",
                             "FlarekubeSiteMissingRounds", "FlarekubeCertificateExpiring"):  # fmt: skip
            assert result == [], f"{rule['alert']} matches in a healthy run: {result}"
