"""`flarekube results JOB`: copy a finished job's global model out of the server's PVC.

NVFlare keeps each finished job's server workspace as a zip in its job store, which the server pod
has on its PVC; a short Python program run in that pod (kubectl-exec style) finds the model in the zip
and streams it back base64-encoded. Needs `get` on fljobs/flprojects/pods and `create` on pods/exec.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from flarekube import naming
from flarekube.api.status import FLJobStatus
from flarekube.builders.server import STATE_MOUNT, WORKSPACE
from flarekube.kube import apply as k
from flarekube.kube.config import api_client

MODEL = "FL_global_model.pt"
# Runs in the server pod (its own Python); prints {"size": n, "data": base64} or {"error": ...}.
FIND = """
import base64, json, pathlib, sys, zipfile
job, store, ws, model = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
blob = store / job / "workspace"
data = None
if blob.is_file():
    with zipfile.ZipFile(blob) as z:
        names = [n for n in z.namelist() if n.endswith("/" + model) or n == model]
        data = z.read(sorted(names, key=len)[0]) if names else None
if data is None:
    hits = sorted((ws / job).rglob(model)) if (ws / job).is_dir() else []
    data = hits[0].read_bytes() if hits else None
print(json.dumps({"size": len(data), "data": base64.b64encode(data).decode()} if data else {"error": "no model"}))
"""


class ResultsError(RuntimeError):
    pass


def _server_pod(api: client.ApiClient, namespace: str, project: str) -> str:
    pods = k.list_objects(api, "Pod", namespace, naming.selector(naming.server_labels(project)))
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        raise ResultsError(f"no running server pod for FLProject {namespace}/{project}")
    return str(running[0]["metadata"]["name"])


def fetch_global_model(namespace: str, job: str, out: Path, api: client.ApiClient | None = None,
                       model: str = MODEL) -> tuple[Path, str]:  # fmt: skip
    """model: the result's file name in the server's job workspace (a jobFolder job's own, e.g.
    model_param.joblib); flarekube's FL_global_model.pt is written as global_model.pt, others keep theirs."""
    try:
        return _fetch(namespace, job, out, api, model)
    except config.ConfigException as err:  # no kubeconfig, not in a pod: a user's situation, not a bug
        raise ResultsError(f"no Kubernetes cluster configured ({err}); set KUBECONFIG") from None
    except ApiException as err:
        raise ResultsError(f"the API server answered {err.status} {err.reason}") from None
    except urllib3.exceptions.HTTPError as err:
        raise ResultsError(f"the API server cannot be reached: {str(err)[:200]}") from None


def _fetch(namespace: str, job: str, out: Path, api: client.ApiClient | None, model: str) -> tuple[Path, str]:
    api = api or api_client()
    body = k.get(api, "FLJob", namespace, job)
    if body is None:
        raise ResultsError(f"FLJob {namespace}/{job} not found")
    status = FLJobStatus.stored(body)
    job_id, phase = status.job_id, status.phase
    if not job_id:
        raise ResultsError(f"FLJob {namespace}/{job} was not submitted yet (phase {phase})")
    pod = _server_pod(api, namespace, body["spec"]["projectRef"])
    command = ["python3", "-c", FIND, str(job_id), f"{STATE_MOUNT}/nvflare/jobs-storage", WORKSPACE, model]
    text = stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, command=command,
                  container="server", stderr=True, stdin=False, stdout=True, tty=False,
                  _request_timeout=120)  # fmt: skip  # a model of a few hundred MB, base64, over exec
    try:
        reply = json.loads(str(text).strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ResultsError(f"unexpected answer from {pod}: {str(text)[-300:]}") from None
    if "error" in reply:
        raise ResultsError(f"NVFlare job {job_id} has no {model} on the server (phase {phase})")
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("global_model.pt" if model == MODEL else Path(model).name)
    path.write_bytes(base64.b64decode(reply["data"]))
    summary = {"phase": phase, "roundSummary": status.round_summary, "metric": status.metric, "jobId": job_id}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return path, f"{reply['size']} bytes; phase {phase}, round {status.round_summary}, metric {status.metric}"
