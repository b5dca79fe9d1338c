"""flarekube's built-in workloads run from the installed package, not from a job's custom/ folder.

A job that carries code (custom/) is "bring your own code" to NVFlare, and a site whose policy says
`customCode: deny` refuses it. flarekube's own clients are part of the runtime image and the venv, so
their jobs name the module and each site resolves it to the file its own installation has.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any

from nvflare.app_common.executors.client_api import in_process_backend
from nvflare.app_common.executors.client_api.backend_spec import ClientAPIBackendSpec
from nvflare.app_common.executors.client_api_executor import ClientAPIExecutor

log = logging.getLogger(__name__)

# NVFlare 2.9's in-process poll interval (the trainer's receive() and the executor's result wait).
NVFLARE_RESULT_POLL_INTERVAL = 0.5


def module_path(module: str) -> str:
    """The installed file of `module` on this site (its path differs between a venv and an image)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"{module} is not installed on this site")
    return spec.origin


def set_result_poll_interval(seconds: float) -> None:
    """Set the in-process Client API's poll interval for this process.

    NVFlare 2.9 keeps it in a module constant that no config reaches (`_RESULT_POLL_INTERVAL`), read by the
    backend when it creates the trainer's API (receive() polls) and on every turn of its result wait. A
    client job process runs one job with one Client API executor, so the process-wide value is that
    executor's. Only the poll changes: result_wait_timeout and the abort checks behave as before."""
    if not seconds > 0:
        raise ValueError(f"result_poll_interval must be > 0 seconds, got {seconds!r}")
    if not hasattr(in_process_backend, "_RESULT_POLL_INTERVAL"):
        raise RuntimeError("this NVFlare has no in_process_backend._RESULT_POLL_INTERVAL: update flarekube_workloads")
    in_process_backend._RESULT_POLL_INTERVAL = seconds


def warm_imports(module: str) -> None:
    """Import the training script's module and what its first optimizer imports (torch._dynamo, ~2 CPU-s).

    Run while the job process waits for the server's job process to come up, so that the first round does
    not pay for them after the task has arrived. A failure here is left to the trainer to report: it
    imports the same modules and fails with its own error."""
    try:
        importlib.import_module(module)
        if importlib.util.find_spec("torch") is not None:
            importlib.import_module("torch._dynamo")
    except Exception as err:  # the trainer reports it, with its own traceback
        log.warning("warming up the imports of %s failed: %s", module, err)


class ModuleClientAPIExecutor(ClientAPIExecutor):
    """NVFlare's Client API executor (in process) running an installed module's script, polling every
    `result_poll_interval` seconds (flarekube.builders.tuning writes it into the job)."""

    def __init__(self, task_module: str, task_script_args: str = "",
                 result_poll_interval: float = NVFLARE_RESULT_POLL_INTERVAL, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(
            execution_mode="in_process", task_script_path=module_path(task_module),
            task_script_args=task_script_args, **kwargs,
        )  # fmt: skip
        self.task_module = task_module
        self.result_poll_interval = float(result_poll_interval)
        if not self.result_poll_interval > 0:
            raise ValueError(f"result_poll_interval must be > 0 seconds, got {result_poll_interval!r}")
        # The executor is built when the job process reads its config, seconds before the job starts.
        self._warm = threading.Thread(target=warm_imports, args=(task_module,), name="flarekube-warm-imports",
                                      daemon=True)  # fmt: skip
        self._warm.start()

    def _create_in_process_backend(self) -> ClientAPIBackendSpec:
        # Before the trainer thread starts: no import runs on two threads at once.
        self._warm.join()
        set_result_poll_interval(self.result_poll_interval)
        return super()._create_in_process_backend()
