"""Read what exists for a project: Deployments, pods and kit Secrets, with one LIST per kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from flarekube import naming
from flarekube.kube import apply as k

Obj = dict[str, Any]


@dataclass
class Children:
    deployments: dict[str, Obj] = field(default_factory=dict)  # by name
    pods: list[Obj] = field(default_factory=list)

    def deployment_ready(self, name: str) -> bool:
        dep = self.deployments.get(name)
        if dep is None:
            return False
        status = dep.get("status") or {}
        generation = (dep.get("metadata") or {}).get("generation")
        current = status.get("observedGeneration") == generation
        return current and int(status.get("readyReplicas") or 0) >= 1

    def pod_phase(self, labels: dict[str, str]) -> tuple[str | None, bool]:
        """(phase, ready) of the newest pod matching `labels`; (None, False) when there is none."""
        matching = [p for p in self.pods if labels.items() <= ((p.get("metadata") or {}).get("labels") or {}).items()]
        if not matching:
            return None, False
        pod = max(matching, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        phase = status.get("phase")
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            phase = "Terminating"
        return (str(phase) if phase else None), ready


def children(api: client.ApiClient, namespace: str, project: str) -> Children:
    selector = naming.selector(naming.project_labels(project))
    deployments = {d["metadata"]["name"]: d for d in k.list_objects(api, "Deployment", namespace, selector)}
    return Children(deployments, k.list_objects(api, "Pod", namespace, selector))
