"""promtool on the chart's alerts (check + a unit test per alert) and on the GPU dashboard (DCGM fixtures).

Needs Debian's prometheus package (`make monitoring-deps`); no NVFlare, no cluster.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.observability import alerts, dashboards

from tests.support.helm import KUBE_VERSION, helm_binary
from tests.support.prometheus import promtool

HERE = Path(__file__).parent
CHART = HERE.parents[1] / "charts" / "flarekube"


def _without_annotations(rules: dict[str, Any]) -> dict[str, Any]:
    """promtool test rules compares annotations too; the cases test the expressions and `for:` only."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return rules


def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(alerts.rules_file()))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts.ALERTS)} rules found" in result.stdout


@pytest.mark.skipif(helm_binary() is None, reason="helm is not built yet (run `make cluster-build`)")
def test_the_charts_rendered_prometheusrule_passes_promtool_with_its_values(tmp_path: Path) -> None:
    """The Helm template (not only the Python model) is valid Prometheus, and a chart value reaches `for:`."""
    args = ["--set", "monitoring.enabled=true", "--api-versions", "monitoring.coreos.com/v1",
            "--set", "monitoring.prometheusRule.siteDisconnectedFor=7m",
            "--set", "monitoring.prometheusRule.siteMissingRounds=5"]  # fmt: skip
    out = subprocess.run([str(helm_binary()), "template", "flarekube", str(CHART), "--namespace", "fl-sys",
                          *KUBE_VERSION, *args], capture_output=True, text=True, check=True).stdout  # fmt: skip
    rule = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    expected = alerts.rules_file("flarekube", "fl-sys", {"siteDisconnectedFor": "7m", "siteMissingRounds": 5})
    for want in expected["groups"][0]["rules"]:
        got = rendered[want["alert"]]
        assert (got["expr"], got.get("for"), got["annotations"]) == (want["expr"], want.get("for"),
                                                                     want["annotations"]), want["alert"]  # fmt: skip
    assert rendered["FlarekubeSiteDisconnected"]["for"] == "7m"
    assert ">= 5" in rendered["FlarekubeSiteMissingRounds"]["expr"]


def test_every_alert_fires_and_stays_silent_in_promtool_unit_tests(tmp_path: Path) -> None:
    shutil.copy(HERE / "alerts_test.yml", tmp_path / "alerts_test.yml")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(_without_annotations(alerts.rules_file())))
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load((HERE / "alerts_test.yml").read_text())["tests"]
    for alert in alerts.ALERTS:
        checks = [c for case in cases for c in case["alert_rule_test"] if c["alertname"] == alert.name]
        assert any(c["exp_alerts"] for c in checks), f"{alert.name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in checks), f"{alert.name}: no case where it stays silent"


# Two pods with one GPU each; DCGM exporter series as the GPU Operator exposes them.
GPU_FIXTURE = {
    "DCGM_FI_DEV_GPU_UTIL": (80, 40),
    "DCGM_FI_DEV_FB_USED": (1000, 2000),
    "DCGM_FI_DEV_FB_FREE": (3000, 4000),
    "DCGM_FI_DEV_POWER_USAGE": (100, 200),
    "DCGM_FI_DEV_GPU_TEMP": (60, 70),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": (0.5, 0.25),
}
PODS = ("site-1-7d9f", "site-2-5c4b")


def test_every_gpu_panel_returns_each_pods_dcgm_values(tmp_path: Path) -> None:
    series = [
        {"series": f'{name}{{namespace="fl", pod="{pod}", gpu="0", Hostname="node-{i}"}}', "values": f"{v}x10"}
        for name, values in GPU_FIXTURE.items() for i, (pod, v) in enumerate(zip(PODS, values, strict=True))
    ]  # fmt: skip
    tests = []
    for title, expr in dashboards.queries(dashboards.GPU):
        metric = re.search(r"\b(DCGM_[A-Z_]+)", expr)
        by = re.search(r"by \(([^)]*)\)", expr)
        assert metric and by, f"{title}: not a per-pod DCGM aggregation: {expr}"
        keys = [k.strip() for k in by.group(1).split(",")]
        samples = []
        for pod, value in zip(PODS, GPU_FIXTURE[metric.group(1)], strict=True):
            labels = ", ".join(f'{k}="{ {"pod": pod, "gpu": "0"}[k] }"' for k in keys)
            samples.append({"labels": f"{{{labels}}}", "value": value})
        tests.append({"expr": expr.replace("$namespace", ".*"), "eval_time": "5m", "exp_samples": samples})
    assert len(tests) == len(dashboards.GPU.panels)
    path = tmp_path / "gpu_test.yml"
    path.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": tests}]}))  # fmt: skip
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
