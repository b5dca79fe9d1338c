"""Helpers for tests that run real NVFlare federations through `flarekube run` (tests/federation).

The `run_flarekube` fixture is loaded by `pytest_plugins` in tests/conftest.py; the document builders are
imported as `from tests.support.federation import job_doc, project_doc, ...`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRC = REPO / "examples" / "data" / "crc"


def nvflare_processes(marker: str) -> list[psutil.Process]:
    """NVFlare processes whose command line mentions `marker` (a test's own tmp folder)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if marker in cmd and ("nvflare" in cmd or "sub_start.sh" in cmd):
            found.append(proc)
    return found


def project_doc(name: str, sites: int, data: Path = CRC) -> dict[str, Any]:
    return {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLProject",
        "metadata": {"name": name},
        "spec": {
            "sites": [
                {"name": f"site-{i}", "org": f"hospital_{i}", "data": {"localPath": str(data)}}
                for i in range(1, sites + 1)
            ],
            "admins": [{"email": "admin@example.org", "org": "hospital_1"}],
        },
    }


def job_doc(name: str, project: str, rounds: int, min_sites: int, workload: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLJob",
        "metadata": {"name": name},
        "spec": {
            "projectRef": project,
            "workload": workload,
            "rounds": rounds,
            "minSites": min_sites,
            "timeoutSeconds": 300,
        },
    }


@pytest.fixture
def run_flarekube(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Write the documents to one file and run the real CLI on them (a child process, as users do)."""

    def run(
        *docs: dict[str, Any], args: tuple[str, ...] = (), command: str = "run", timeout: float = 400
    ) -> subprocess.CompletedProcess[str]:
        spec = tmp_path / "bundle.yaml"
        spec.write_text(yaml.safe_dump_all(list(docs)))
        out = ("--out", str(tmp_path / "out")) if command == "run" else ()
        env = {**os.environ, "COLUMNS": "120", "XDG_STATE_HOME": str(tmp_path / "state")}
        return subprocess.run(
            [sys.executable, "-m", "flarekube", command, str(spec), *out, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp_path,
        )

    return run
