"""The one home of flarekube's NVFlare timing settings: a pure post-processing step on an exported job folder.

NVFlare's defaults are sized for WAN federations with minutes-long rounds; on a short round they dominate:
the server tells each client to wait `task_request_interval` (2 s) before asking for the next task, FedAvg
checks its standing tasks every `task_check_period` (0.5 s), and the Client API polls for the task and for
the result every 0.5 s. Every one of them is a poll interval, not a timeout: shortening them changes how
soon a waiting party notices something, never whether a timeout fires (round_timeout, the job's
timeoutSeconds, NVFlare's own heartbeats and submit timeouts keep their values), and the messages still
travel over the same mTLS connections. Measured effect: bench/README.md.

`tune_job_folder` is applied after the algorithm's recipe is exported (builders/jobfolder.py), so every
algorithm gets the same settings without each one knowing them. A user's own job folder (`jobFolder`) is
the user's configuration and is copied unchanged: NVFlare reads all of these settings from the job's
config, none from the kit or the site's local/ folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flarekube_workloads.contract import MODULE_EXECUTOR


@dataclass(frozen=True)
class FlareTiming:
    """Poll intervals, in seconds. The names are NVFlare's config keys."""

    task_request_interval: float  # server -> client: how long to wait before the next task request
    task_check_period: float  # the server's controller: how often standing tasks are checked
    default_task_fetch_interval: float  # the client before the server has told it a wait time
    result_poll_interval: float  # the Client API, in process: task delivery and result pickup


# NVFlare 2.9's own values (ServerJsonConfigurator, BaseModelController, ClientJsonConfigurator, the in-process
# backend's _RESULT_POLL_INTERVAL): the baseline bench/bench_rounds.py compares against.
NVFLARE_DEFAULTS = FlareTiming(
    task_request_interval=2.0, task_check_period=0.5, default_task_fetch_interval=0.5, result_poll_interval=0.5
)
# A few tens of milliseconds: far below a round, far above the cost of one idle task request over loopback
# or a LAN (each is one small TLS message; 4 sites at 0.05 s are ~80 requests/s while a round runs).
FLAREKUBE_TIMING = FlareTiming(
    task_request_interval=0.05, task_check_period=0.02, default_task_fetch_interval=0.05, result_poll_interval=0.01
)

# Server workflows whose constructor takes task_check_period (NVFlare's BaseModelController and
# ScatterAndGather families). A workflow not listed keeps its own value: an argument its constructor does
# not take would fail the job.
TASK_CHECKING_WORKFLOWS = frozenset({
    "nvflare.app_common.workflows.fedavg.FedAvg",
    "nvflare.app_common.workflows.scaffold.Scaffold",
    "nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather",
    "nvflare.app_common.workflows.scatter_and_gather_scaffold.ScatterAndGatherScaffold",
    "nvflare.app_opt.pt.fedavg.PTFedAvg",
    "nvflare.app_opt.pt.fedopt_ctl.FedOpt",
    "flarekube_workloads.controllers.FaultTolerantFedAvg",
})  # fmt: skip


def tune_job_folder(folder: Path, timing: FlareTiming = FLAREKUBE_TIMING) -> None:
    """Write `timing` into every app's server and client config under `folder` (in place)."""
    for config in sorted(folder.glob("*/config/config_fed_server.json")):
        _rewrite(config, lambda data: tune_server_config(data, timing))
    for config in sorted(folder.glob("*/config/config_fed_client.json")):
        _rewrite(config, lambda data: tune_client_config(data, timing))


def tune_server_config(data: dict[str, Any], timing: FlareTiming) -> dict[str, Any]:
    data.setdefault("server", {})["task_request_interval"] = timing.task_request_interval
    for workflow in data.get("workflows", []):
        if workflow.get("path") in TASK_CHECKING_WORKFLOWS:
            workflow.setdefault("args", {})["task_check_period"] = timing.task_check_period
    return data


def tune_client_config(data: dict[str, Any], timing: FlareTiming) -> dict[str, Any]:
    data["default_task_fetch_interval"] = timing.default_task_fetch_interval
    for entry in data.get("executors", []):
        executor = entry.get("executor", {})
        if executor.get("path") == MODULE_EXECUTOR:
            executor.setdefault("args", {})["result_poll_interval"] = timing.result_poll_interval
    return data


def _rewrite(config: Path, change: Any) -> None:
    config.write_text(json.dumps(change(json.loads(config.read_text())), indent=4))
