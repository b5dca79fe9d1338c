"""A real Prometheus for the tests (Debian's package, `make monitoring-deps`): a temp dir, a random port.

`Prometheus(tmp, scrape_jobs, rule_file)` writes a config, starts `prometheus` and waits until it is
ready; `query(expr, at)` evaluates PromQL through the HTTP API. `promtool()` runs promtool.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# Grafana's variables, as the tests evaluate a panel: every project, namespace and job.
GRAFANA = {"$project": ".+", "$namespace": ".+", "$job": ".+", "$__rate_interval": "1m", "$__range": "10m"}
MISSING = "Prometheus/promtool not installed: run `make monitoring-deps` (Debian's `prometheus` package)"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(MISSING)
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def grafana(expr: str) -> str:
    """A panel's PromQL with Grafana's variables replaced (all values, a 1m rate window)."""
    for var, value in GRAFANA.items():
        expr = expr.replace(var, value)
    return expr


def wait_for(probe: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never saw {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, root: Path, scrape_jobs: list[dict[str, Any]], rule_file: Path | None = None,
                 interval: str = "1s") -> None:  # fmt: skip
        self.root = root
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": scrape_jobs,
        }
        if rule_file is not None:
            config["rule_files"] = [str(rule_file)]
        self.config = root / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = root / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary("prometheus"), f"--config.file={self.config}", f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"prometheus not ready in 60 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api(self, path: str, **params: Any) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant vector (or a scalar as one unlabelled sample), evaluated at `at` (default now)."""
        data = self.api("query", query=expr, **({"time": at} if at is not None else {}))
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return active
