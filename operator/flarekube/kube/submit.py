"""`flarekube submit DIR --project P`: a job folder packed into a ConfigMap, and the FLJob that runs it.

The FLJob is created first and the ConfigMap is owned by it (ownerReference), so deleting the FLJob
deletes its folder too; until the ConfigMap exists the operator waits for it (a NotYet, retried).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from flarekube.builders.jobpack import fljob_for_folder, job_folder_configmap, pack_job_folder
from flarekube.kube import apply as k
from flarekube.kube.config import api_client


class SubmitError(RuntimeError):
    """The cluster refused the FLJob or its ConfigMap; the message says why."""


def submit_folder(folder: Path, *, project: str, namespace: str, name: str, rounds: int,
                  min_sites: int = 1, api: Any = None) -> dict[str, Any]:  # fmt: skip
    """Create the FLJob `name` and its job-folder ConfigMap `name`-job; returns the stored FLJob."""
    packed = pack_job_folder(folder)  # before anything is created: a folder too large creates nothing
    api = api or api_client()
    configmap = f"{name}-job"
    if k.get(api, "FLProject", namespace, project) is None:
        raise SubmitError(f'FLProject "{project}" does not exist in namespace {namespace}')
    try:
        job = k.create(api, fljob_for_folder(name, namespace, project, configmap, rounds, min_sites))
    except ApiException as err:
        if err.status == 409:
            raise SubmitError(f"FLJob {namespace}/{name} exists already: delete it or pick another --name") from None
        raise SubmitError(f"the API server refused FLJob {name}: {err.reason}: {err.body}") from None
    cm = job_folder_configmap(configmap, namespace, project, packed)
    cm["metadata"]["ownerReferences"] = [{"apiVersion": job["apiVersion"], "kind": "FLJob", "name": name,
                                          "uid": job["metadata"]["uid"], "blockOwnerDeletion": False}]  # fmt: skip
    k.apply(api, cm)
    return job
