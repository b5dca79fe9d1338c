"""The site policy flarekube ships in every kit: NVFlare's defaults plus flarekube's own components.

NVFlare refuses to build any job component whose class is not on the site's `class_allow_list`
(local/resources.json, falling back to resources.json.default). flarekube's jobs use a server-side
workflow from `flarekube_workloads` (the fault-tolerant FedAvg), so each kit carries a resources.json
that adds exactly what those jobs need and keeps NVFlare's enforcement mode. A hospital may edit its
local/ folder afterwards: it is site policy, not identity, and carries no certificate.
"""

from __future__ import annotations

import json

# flarekube's own package, and the two NVFlare classes its built-in jobs use that NVFlare's default
# list leaves out (the PyTorch persistor and the Client API executor). Nothing broader.
FLAREKUBE_COMPONENT_PREFIXES = (
    "flarekube_workloads.",
    "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor",
    "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor",
)
DEFAULT_RESOURCES = "local/resources.json.default"
RESOURCES = "local/resources.json"


def with_flarekube_policy(files: dict[str, bytes]) -> dict[str, bytes]:
    """Add local/resources.json (allow-listing flarekube's components) next to NVFlare's default."""
    default = files.get(DEFAULT_RESOURCES)
    if default is None or RESOURCES in files:
        return files
    resources = json.loads(default)
    allow = list(resources.get("class_allow_list") or [])
    for prefix in FLAREKUBE_COMPONENT_PREFIXES:
        if prefix not in allow:
            allow.append(prefix)
    resources["class_allow_list"] = allow
    return {**files, RESOURCES: (json.dumps(resources, indent=2) + "\n").encode()}
