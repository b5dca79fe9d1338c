"""flarekube's built-in workloads run from the installed package, not from a job's custom/ folder.

A job that carries code (custom/) is "bring your own code" to NVFlare, and a site whose policy says
`customCode: deny` refuses it. flarekube's own clients are part of the runtime image and the venv, so
their jobs name the module and each site resolves it to the file its own installation has.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from nvflare.app_common.executors.client_api_executor import ClientAPIExecutor


def module_path(module: str) -> str:
    """The installed file of `module` on this site (its path differs between a venv and an image)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"{module} is not installed on this site")
    return spec.origin


class ModuleClientAPIExecutor(ClientAPIExecutor):
    """NVFlare's Client API executor (in process) running an installed module's script."""

    def __init__(self, task_module: str, task_script_args: str = "", **kwargs: Any) -> None:
        super().__init__(
            execution_mode="in_process", task_script_path=module_path(task_module),
            task_script_args=task_script_args, **kwargs,
        )  # fmt: skip
        self.task_module = task_module
