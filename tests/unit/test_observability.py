"""Dashboards and alerts as code (flarekube/observability), the federation's metric registry and the
metrics component in every participant's rendered local/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from flarekube.builders import sitelocal
from flarekube.observability import alerts, dashboards, generate
from flarekube.provisioning import LocalKitStore, ensure_kits
from flarekube.provisioning.codec import decode_kit
from flarekube_workloads import federation_metrics as fm
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_sitelocal import INPUTS

CHART = Path(__file__).resolve().parents[2] / "charts" / "flarekube"


def test_the_charts_dashboards_and_rules_are_what_the_code_generates() -> None:
    for rel, text in generate.files().items():
        assert (CHART / rel).read_text() == text, f"{rel} drifted: run `make monitoring-generate`"
    shipped = {p.relative_to(CHART) for p in (CHART / "dashboards").glob("*.json")}
    assert shipped == {rel for rel in generate.files() if rel.parts[0] == "dashboards"}, "a stale dashboard"


def test_every_alert_value_is_a_chart_value_with_the_same_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["monitoring"]["prometheusRule"]
    assert {k: v for k, v in values.items() if k != "labels"} == alerts.DEFAULTS
    schema = json.loads((CHART / "values.schema.json").read_text())
    rule_schema = schema["properties"]["monitoring"]["properties"]["prometheusRule"]["properties"]
    assert set(rule_schema) == {"labels", *alerts.DEFAULTS}
    used = {a.for_key for a in alerts.ALERTS} | {k for a in alerts.ALERTS for k in alerts.DEFAULTS
                                                  if f"{{value:{k}}}" in a.expr}  # fmt: skip
    assert used - {None} == set(alerts.DEFAULTS), "a chart value no alert reads"


def test_dashboards_are_grafana_models_with_unique_panels() -> None:
    for board in dashboards.BOARDS:
        model = dashboards.dashboard(board)
        assert model["uid"] == board.uid and model["title"] == board.title
        panels = model["panels"]
        assert len(panels) == len(board.panels) and len({p["id"] for p in panels}) == len(panels)
        assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
        names = [v["name"] for v in model["templating"]["list"]]
        assert names[0] == "datasource" and names[1:] == [n for n, _ in board.variables]


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    store = LocalKitStore(tmp_path_factory.mktemp("kits"))
    ensure_kits(INPUTS, store)
    return {n: decode_kit(store.get_kit(n)).files for n in ("localhost", "site-a")}


def test_the_metrics_component_goes_into_resources_and_privacy(kits: dict[str, dict[str, bytes]]) -> None:
    m = sitelocal.Monitoring(9102, "pol", "fl", sites=("site-a",))
    for name, kind in (("localhost", "server"), ("site-a", "client")):
        plain = sitelocal.render_local(kits[name], kind)
        files = sitelocal.render_local(kits[name], kind, monitoring=m)
        for fname in (sitelocal.RESOURCES, sitelocal.PRIVACY):
            config = json.loads(files[fname])
            (component,) = [c for c in config["components"] if c["id"] == sitelocal.MONITOR_ID]
            assert component["path"] == sitelocal.MONITOR_COMPONENT
            assert component["args"]["port"] == 9102 and component["args"]["project"] == "pol"
            assert ("sites" in component["args"]) == (kind == "server")
            assert not any(c.get("id") == sitelocal.MONITOR_ID for c in json.loads(plain.get(fname, b"{}"))
                           .get("components", [])), "only when asked"  # fmt: skip
        # the site's privacy filters are untouched by the component
        if kind == "client":
            assert json.loads(files[sitelocal.PRIVACY])["scopes"] == json.loads(plain[sitelocal.PRIVACY])["scopes"]
        assert sitelocal.digest(files) != sitelocal.digest(plain)
        assert files == sitelocal.render_local(kits[name], kind, monitoring=m), "deterministic"


def test_nvflare_builds_the_component_from_the_rendered_privacy_json(kits: dict[str, dict[str, bytes]],
                                                                     tmp_path: Path) -> None:  # fmt: skip
    """NVFlare's own privacy configurator (what every job process runs) builds the component."""
    from nvflare.apis.workspace import Workspace
    from nvflare.private.fed.app.fl_conf import create_privacy_manager

    files = sitelocal.render_local(kits["localhost"], "server", monitoring=sitelocal.Monitoring(9102, "pol", "fl"))
    (tmp_path / "local").mkdir()
    (tmp_path / "startup").mkdir()
    (tmp_path / "local" / sitelocal.PRIVACY).write_bytes(files[sitelocal.PRIVACY])
    manager = create_privacy_manager(Workspace(str(tmp_path), "server"), names_only=False, is_server=True)
    assert manager.is_policy_defined()
    assert type(manager.components[sitelocal.MONITOR_ID]).__name__ == "FederationMonitor"


def _exposition(m: fm.FederationMetrics) -> str:
    return generate_latest(m.registry).decode()


def test_label_values_from_job_code_are_checked_and_bounded() -> None:
    m = fm.FederationMetrics("p", "n")
    assert not m.apply({"kind": "phase", "job": "bad name{}", "phase": "running"})
    assert not m.apply({"kind": "phase", "job": "j", "phase": "weird"})
    assert not m.apply({"kind": "contribution", "job": "j", "site": "x" * 100, "accepted": True})
    assert not m.apply({"kind": "nonsense", "job": "j"})
    assert not m.apply({"kind": "round_done", "job": "j", "round": -1, "seconds": 1})
    metrics = {f"m{i}": float(i) for i in range(fm.MAX_METRICS + 5)} | {"bad-name": 1.0, "nan": float("nan")}
    assert m.apply({"kind": "contribution", "job": "j", "site": "a", "accepted": True, "metrics": metrics})
    text = _exposition(m)
    assert text.count("flarekube_fl_site_metric{") == fm.MAX_METRICS
    assert 'metric="bad-name"' not in text and "bad name" not in text
    for i in range(fm.MAX_JOBS + 3):  # the oldest jobs' series go
        m.apply({"kind": "round_started", "job": f"job-{i}", "round": 1})
    text = _exposition(m)
    assert 'job="job-0"' not in text and 'job="j"' not in text and f'job="job-{fm.MAX_JOBS + 2}"' in text
    assert len({line.split('job="')[1].split('"')[0] for line in text.splitlines() if 'job="' in line}) == fm.MAX_JOBS


def test_a_round_records_contributors_timeouts_and_durations() -> None:
    m = fm.FederationMetrics("p", "n")
    m.apply({"kind": "round_started", "job": "j", "round": 1, "planned": 3})
    m.apply({"kind": "contribution", "job": "j", "site": "a", "accepted": True, "metrics": {"train_loss": 0.5}})
    m.apply({"kind": "contribution", "job": "j", "site": "b", "accepted": False})
    assert m.apply({"kind": "round_done", "job": "j", "round": 1, "seconds": 4.0, "aggregation_seconds": 0.2,
                    "contributors": ["a"], "missing": ["b", "c"]})  # fmt: skip
    text = _exposition(m)
    for line in ('flarekube_fl_rounds_done{job="j",namespace="n",project="p"} 1.0',
                 'flarekube_fl_rounds_planned{job="j",namespace="n",project="p"} 3.0',
                 'flarekube_fl_round_contributors{job="j",namespace="n",project="p"} 1.0',
                 'flarekube_fl_site_last_round{job="j",namespace="n",project="p",site="a"} 1.0',
                 'flarekube_fl_site_last_round{job="j",namespace="n",project="p",site="c"} 0.0',
                 'flarekube_fl_task_failures_total{job="j",namespace="n",project="p",reason="rejected",site="b"} 1.0',
                 'flarekube_fl_task_failures_total{job="j",namespace="n",project="p",reason="timeout",site="c"} 1.0',
                 'flarekube_fl_site_metric{job="j",metric="train_loss",namespace="n",project="p",site="a"} 0.5',
                 'flarekube_fl_round_duration_seconds_sum{job="j",namespace="n",project="p"} 4.0'):  # fmt: skip
        assert line in text, line


def test_flarekube_run_gives_each_participant_its_own_metrics_port() -> None:
    from flarekube.local.federation import LOCAL_NAMESPACE, metrics_ports

    assert metrics_ports(None, "crc", ["a", "b"]) == {}
    ports = metrics_ports(19400, "crc", ["a", "b"])
    assert {n: m.port for n, m in ports.items()} == {"server": 19400, "a": 19401, "b": 19402}
    assert {(m.project, m.namespace, m.host, m.sites) for m in ports.values()} == {
        ("crc", LOCAL_NAMESPACE, "127.0.0.1", ("a", "b"))}


def test_metrics_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    from flarekube.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["run", str(tmp_path / "x.yaml"), "--metrics-port", "70000"])
    assert result.exit_code == 2 and "metrics-port" in result.output


def test_certificate_gauges_read_the_ledgers_active_certificates(tmp_path: Path) -> None:
    import dataclasses

    from flarekube import metrics

    report = ensure_kits(INPUTS, LocalKitStore(tmp_path))
    assert report.ledger.entries
    metrics.record_certificates("pol", "fl", report.ledger, report.ca_expires, 30, renewing=False)
    text = generate_latest(metrics.REGISTRY).decode()
    expiry = {(s.labels["participant"], s.labels["kind"]): s.value
              for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "flarekube_certificate_expiry_timestamp_seconds" and s.labels["project"] == "pol"}
    assert expiry == {(e.participant, e.kind): e.expires.timestamp() for e in report.ledger.entries} | {
        ("ca", "ca"): report.ca_expires.timestamp()}  # fmt: skip
    assert 'flarekube_certificate_renewal_window_seconds{namespace="fl",project="pol"} 2.592e+06' in text
    assert 'flarekube_certificate_renewing{namespace="fl",project="pol"} 0.0' in text
    # a participant whose certificate is revoked (removed from the project) leaves no expiry series
    gone = report.ledger.entries[-1]
    revoked = dataclasses.replace(report.ledger, entries=tuple(
        dataclasses.replace(e, status="revoked") if e.participant == gone.participant else e
        for e in report.ledger.entries))  # fmt: skip
    metrics.record_certificates("pol", "fl", revoked, report.ca_expires, 30, renewing=True)
    text = generate_latest(metrics.REGISTRY).decode()
    assert f'participant="{gone.participant}",project="pol"' not in text
    assert 'flarekube_certificate_renewing{namespace="fl",project="pol"} 1.0' in text
    assert 'participant="ca",project="pol"' in text
