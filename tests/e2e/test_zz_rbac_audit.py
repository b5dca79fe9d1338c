"""Issue 12: the chart's RBAC equals what the operator uses, with the API server itself as the oracle.

The local cluster's kube-apiserver writes an audit log (Metadata level, ServiceAccounts only; see
tests/cluster/clustertool/components.py). This module runs after the other e2e modules on purpose (its
name sorts last): it reads every request the operator's ServiceAccount made during this session and
compares them with what `helm template` grants it (tests/support/helm.chart_rbac):
- the operator was never refused (403): the chart grants everything it uses;
- every granted verb was used, or is named in NOT_EXERCISED with the code path that uses it and why
  the e2e run does not reach it: a grant nobody can point to is a finding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from clustertool import config as cluster_config
from clustertool.components import audit_log
from kubernetes import client

from tests.support.e2e import OPERATOR_NS, OPERATOR_SA
from tests.support.helm import chart_rbac

pytestmark = pytest.mark.cluster

Grant = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)

# Granted, used by the operator, but not reached by this e2e run: (group, resource, verb) -> where and why.
NOT_EXERCISED: dict[Grant, str] = {
    ("", "secrets", "delete"): "kube/kitstore.py removes a revoked/removed participant's kit; no site is removed here",
    ("apps", "deployments", "delete"): "controller/project.apply_changes deletes a removed site; none is removed here",
}

START = datetime.now(timezone.utc)  # collection time: before any e2e test starts the operator


def _when(entry: dict) -> datetime:
    return datetime.fromisoformat(str(entry["requestReceivedTimestamp"]).replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def used(kube: client.ApiClient, cluster: Path) -> Iterator[list[dict]]:
    if cluster != cluster_config.default_paths().user_kubeconfig:
        pytest.skip("the audit log is read from the local cluster's kube-apiserver")
    path = audit_log(cluster_config.default_paths())
    assert path.exists(), f"{path}: the kube-apiserver runs with --audit-log-path"
    time.sleep(2)  # the audit backend flushes in batches
    user = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
    entries = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("stage") == "ResponseComplete" and entry["user"]["username"] == user and _when(entry) >= START:
            entries.append(entry)
    yield entries


def grants_of(entry: dict) -> set[Grant]:
    """What the request needed. A server-side apply that created its object (PATCH answered 201) was also
    authorized as `create` by the API server, which the audit log records as the patch alone."""
    ref = entry.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    needed = {(ref.get("apiGroup", ""), resource, entry["verb"])}
    if entry["verb"] == "patch" and (entry.get("responseStatus") or {}).get("code") == 201:
        needed.add((ref.get("apiGroup", ""), resource, "create"))
    return needed


def granted() -> set[Grant]:
    out = set()
    for doc in chart_rbac(OPERATOR_NS, ["any"], sa=OPERATOR_SA):
        if doc["kind"] in ("Role", "ClusterRole") and (doc["kind"] == "ClusterRole"
                                                        or doc["metadata"]["namespace"] == "any"):
            for rule in doc["rules"]:
                out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


def test_the_operator_was_never_refused(used: list[dict]) -> None:
    assert used, "no request of the operator's ServiceAccount is in the audit log (did the e2e operator run?)"
    refused = sorted({(*g, (e.get("objectRef") or {}).get("namespace", "")) for e in used for g in grants_of(e)
                      if (e.get("responseStatus") or {}).get("code") == 403})  # fmt: skip
    assert not refused, f"the chart does not grant what the operator used: {refused}"


def test_every_grant_is_used(used: list[dict]) -> None:
    seen = {g for e in used for g in grants_of(e)}
    unused = sorted(g for g in granted() - seen if g not in NOT_EXERCISED)
    assert not unused, f"granted but never used in this run (remove them, or say where they are used): {unused}"
    stale = sorted(g for g in NOT_EXERCISED if g in seen)
    assert not stale, f"NOT_EXERCISED lists grants this run did use (take them off the list): {stale}"
