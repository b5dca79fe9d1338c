"""A user's own NVFlare job folder on the real local cluster: `flarekube submit` -> FLJob Succeeded -> result.

Issue 11. The folder is examples/byo-sklearn's (NVFlare's sklearn FedAvg, exported; its script in
custom/), packed into a ConfigMap by `flarekube submit`; the project's sites allow custom code. The runtime
image must carry scikit-learn (images/requirements-runtime.txt). A second job that a site's policy refuses
is stopped by the operator before NVFlare sees it, naming the policy field.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flarekube.kube import apply as k
from kubernetes import client

from tests.e2e.test_operator_e2e import status, wait_status
from tests.support.e2e import REPO

pytestmark = pytest.mark.cluster
EXAMPLE = REPO / "examples" / "byo-sklearn" / "job" / "sklearn-byo"
PROJECT = "byo"


def _site(i: int, custom_code: str) -> dict[str, Any]:
    return {"name": f"site-{i}", "org": f"hospital_{i}", "policy": {"customCode": custom_code},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}  # fmt: skip


def _flarekube(*args: str, cluster: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(cluster))
    return subprocess.run([str(Path(sys.executable).parent / "flarekube"), *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)  # fmt: skip


def test_a_submitted_folder_runs_and_its_result_is_fetched(kube: client.ApiClient, cluster: Path, operator: str,
                                                            fed_ns: str, tmp_path: Path) -> None:  # fmt: skip
    k.create(kube, {"apiVersion": "flarekube.io/v1alpha1", "kind": "FLProject",
                    "metadata": {"name": PROJECT, "namespace": fed_ns},
                    "spec": {"server": {"name": "byo-server"}, "sites": [_site(1, "allow"), _site(2, "allow")]}})
    wait_status(kube, "FLProject", fed_ns, PROJECT, lambda s: s.get("phase") == "Ready", 300, "FLProject byo Ready")
    folder = Path(shutil.copytree(EXAMPLE, tmp_path / "sklearn-byo"))
    started = time.monotonic()
    ran = _flarekube("submit", str(folder), "--project", PROJECT, "--namespace", fed_ns, "--rounds", "3",
                     "--min-sites", "2", cluster=cluster)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cm = k.get(kube, "ConfigMap", fed_ns, "sklearn-byo-job")
    assert cm is not None and cm["metadata"]["ownerReferences"][0]["kind"] == "FLJob"
    st = wait_status(kube, "FLJob", fed_ns, "sklearn-byo",
                     lambda s: s.get("phase") in ("Succeeded", "Failed", "Aborted"), 420, "FLJob sklearn-byo finished")
    print(f"\n[e2e] flarekube submit sklearn 3 rounds -> {st['phase']}: {time.monotonic() - started:.1f} s")
    assert st["phase"] == "Succeeded", st
    assert st["roundSummary"] == "3/3"
    fetched = _flarekube("results", "sklearn-byo", "-n", fed_ns, "--out", str(tmp_path / "out"),
                         "--model", "model_param.joblib", cluster=cluster)  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    import joblib

    assert {"coef", "intercept"} <= set(joblib.load(tmp_path / "out" / "model_param.joblib"))


def test_a_folder_a_site_refuses_fails_before_nvflare(kube: client.ApiClient, cluster: Path, fed_ns: str,
                                                       tmp_path: Path) -> None:  # fmt: skip
    body = k.get(kube, "FLProject", fed_ns, PROJECT)
    assert body is not None
    body["spec"]["sites"][1]["policy"]["customCode"] = "deny"
    k.merge_patch(kube, "FLProject", fed_ns, PROJECT, {"spec": {"sites": body["spec"]["sites"]}})
    folder = Path(shutil.copytree(EXAMPLE, tmp_path / "refused-byo"))
    # Every site is needed (minSites = all): with one refusing, the job cannot run anywhere and fails before
    # NVFlare. (With fewer needed, the refusing site is a warning and NVFlare refuses it there, issue 10.)
    every = str(len(body["spec"]["sites"]))
    ran = _flarekube("submit", str(folder), "--project", PROJECT, "--namespace", fed_ns, "--min-sites", every,
                     cluster=cluster)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    st = wait_status(kube, "FLJob", fed_ns, "refused-byo", lambda s: s.get("phase") == "Failed", 120,
                     "FLJob refused-byo Failed")  # fmt: skip
    valid = next(c for c in st["conditions"] if c["type"] == "SpecValid")
    assert "spec.sites[1].policy.customCode" in valid["message"], valid
    assert not status(kube, "FLJob", fed_ns, "refused-byo").get("jobId"), "NVFlare must never have seen it"
