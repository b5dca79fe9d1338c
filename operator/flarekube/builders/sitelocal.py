"""The ONE writer of every participant's `local/` folder: NVFlare's defaults from the kit + the site's policy.

NVFlare reads a participant's local rules from `local/` (`authorization.json` before
`authorization.json.default`, `resources.json` before its default, `privacy.json`). flarekube renders
those files here and nowhere else — from the `.default` files NVFlare's provisioner put in the kit and the
FLProject's `spec.sites[].policy` — and `flarekube run` writes them into each participant's run copy while
a cluster mounts them from a ConfigMap. They are never part of the kit: changing a policy re-renders this
folder and leaves every certificate as it was. Pure and deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flarekube_workloads.contract import REFUSED_CERTS_FILE, REFUSED_CERTS_FORMAT

from flarekube.api.policy import PrivacySpec, SitePolicy
from flarekube.provisioning.ledger import LedgerEntry

AUTHORIZATION = "authorization.json"
RESOURCES = "resources.json"
PRIVACY = "privacy.json"
RENDERED = (AUTHORIZATION, RESOURCES, PRIVACY)
DEFAULT_SUFFIX = ".default"

# The flarekube operator's admin identity has its own role, so every site can grant it exactly what it
# needs (submit and follow its own jobs) and nothing a human admin has (shell, operate).
OPERATOR_ROLE = "flarekube_operator"
ROLES = ("project_admin", "org_admin", "lead", "member")
# NVFlare's own defaults (lighter/templates/master_template.yml, default_authz) for the rights a site's
# policy does not decide.
_DEFAULT_MANAGE = {"project_admin": "any", "org_admin": "o:submitter", "lead": "n:submitter", "member": "none"}
_DEFAULT_OPERATE = {"project_admin": "any", "org_admin": "o:site", "lead": "o:site", "member": "none"}

# flarekube's package, and the two NVFlare classes its built-in jobs use that NVFlare's default
# allow-list leaves out (the PyTorch persistor and the Client API executor). Nothing broader.
FLAREKUBE_COMPONENT_PREFIXES = (
    "flarekube_workloads.",
    "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor",
    "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor",
)
# The server alone also builds FedOpt's optimizer (PTFedOptModelShareableGenerator instantiates it from
# the job's optimizer_args at run time): the two spec.algorithm.serverOptimizer offers, exactly.
SERVER_OPTIMIZERS = ("torch.optim.SGD", "torch.optim.Adam")
PRIVACY_SCOPE = "site-policy"
TOP_MARGIN = 0.1
PERCENTILE_PRIVACY = "nvflare.app_common.filters.percentile_privacy.PercentilePrivacy"
SVT_PRIVACY = "nvflare.app_common.filters.svt_privacy.SVTPrivacy"
EXCLUDE_VARS = "nvflare.app_common.filters.exclude_vars.ExcludeVars"
LOCAL_MODEL_BLOCKER = "flarekube_workloads.filters.LocalModelBlocker"
# The server refuses registrations by certificates the ledger superseded or revoked (see certguard.py).
CERT_GUARD = {"id": "flarekube_cert_guard", "path": "flarekube_workloads.certguard.CertGuard",
              "args": {"refused_file": REFUSED_CERTS_FILE}}  # fmt: skip
# Files read live where they are mounted, left out of the digest that rolls a pod: a site's renewal
# changes the server's refused list without restarting the server (and its running job).
LIVE = (REFUSED_CERTS_FILE,)

# The federation metrics component (flarekube_workloads/monitoring.py). NVFlare builds resources.json's
# components in the participant's parent process (which serves /metrics) and privacy.json's components in
# every job process (which report to the parent): the one site-level way into every job, a user's included.
MONITOR_ID = "flarekube_metrics"
MONITOR_COMPONENT = "flarekube_workloads.monitoring.FederationMonitor"

LocalFiles = dict[str, bytes]  # file name inside local/ -> content


@dataclass(frozen=True)
class Monitoring:
    """Where one participant serves its federation metrics, and the labels every series carries."""

    port: int
    project: str
    namespace: str
    host: str = ""  # "" = every interface (a pod); `flarekube run` binds 127.0.0.1
    sites: tuple[str, ...] = ()  # the server reports each as connected or not


class RenderError(ValueError):
    """The kit lacks a default file NVFlare's provisioner always writes: the kit is not NVFlare's."""


def render_local(
    kit_files: Mapping[str, bytes],
    kind: str,
    policy: SitePolicy | None = None,
    *,
    monitoring: Monitoring | None = None,
    server_components: Sequence[str] = (),
    ledger: Iterable[LedgerEntry] = (),
) -> LocalFiles:
    """Every file of `local/` for one participant (`kind` "server" or "client"; sites pass their policy,
    the server the FLProject's `spec.server.allowComponents` and the certificate ledger's entries, whose
    superseded and revoked serials it refuses).

    NVFlare's other local files (log configuration, samples) are kept as the kit has them. With
    `monitoring`, resources.json also builds the federation metrics component."""
    defaults = {path.removeprefix("local/"): data for path, data in kit_files.items()
                if path.startswith("local/") and path.count("/") == 1}  # fmt: skip
    out: LocalFiles = {name: data for name, data in defaults.items() if name not in RENDERED}
    authz = _json(defaults, AUTHORIZATION + DEFAULT_SUFFIX)
    resources = _json(defaults, RESOURCES + DEFAULT_SUFFIX)
    if monitoring is not None:
        resources = _with_monitor(resources, monitoring, kind)
    if kind == "server":
        authz["permissions"][OPERATOR_ROLE] = _operator_rights(submit=True, byoc=True)
        out[AUTHORIZATION] = _dump(authz)
        out[RESOURCES] = _dump(_with_component(_allow(resources, (*SERVER_OPTIMIZERS, *server_components)), CERT_GUARD))
        out[REFUSED_CERTS_FILE] = refused_certificates(ledger)
        if monitoring is not None:  # a scope without filters: NVFlare reads privacy.json's components only then
            out[PRIVACY] = _dump(_with_monitor(_scope([]), monitoring, kind))
        return out
    policy = policy or SitePolicy()
    out[AUTHORIZATION] = _dump(site_authorization(policy))
    out[RESOURCES] = _dump(_allow(resources, policy.allow_components))
    privacy = site_privacy(policy.privacy)
    out[PRIVACY] = _dump(privacy if monitoring is None else _with_monitor(privacy, monitoring, kind))
    return out


def site_authorization(policy: SitePolicy) -> dict[str, Any]:
    """NVFlare's authorization.json (format 1.0) for a site: who may submit, bring code, run shell commands."""
    who = policy.submitters
    orgs: str | list[str] = [f"o:{org}" for org in who.orgs] or "any"
    permissions: dict[str, Any] = {}
    for role in ROLES:
        submit = orgs if role in who.roles else "none"
        permissions[role] = {
            "submit_job": submit,
            "clone_job": submit,
            "manage_job": _DEFAULT_MANAGE[role],
            "download_job": _DEFAULT_MANAGE[role],
            "view": "any",
            "operate": _DEFAULT_OPERATE[role],
            "shell_commands": _DEFAULT_OPERATE[role] if policy.shell_commands == "allow" else "none",
            "byoc": submit if policy.custom_code == "allow" else "none",
            "server-predeployed-flwr": "none",
        }
    permissions[OPERATOR_ROLE] = _operator_rights(submit=who.operator, byoc=policy.custom_code == "allow")
    return {"format_version": "1.0", "permissions": permissions}


def _operator_rights(*, submit: bool, byoc: bool) -> dict[str, str]:
    """Submit and follow its own jobs; never shell, operate (restart, shut down) or other admins' jobs."""
    return {
        "submit_job": "any" if submit else "none",
        "clone_job": "none",
        "manage_job": "n:submitter",
        "download_job": "n:submitter",
        "view": "any",
        "operate": "none",
        "shell_commands": "none",
        "byoc": "any" if submit and byoc else "none",
        "server-predeployed-flwr": "none",
    }


def site_privacy(privacy: PrivacySpec) -> dict[str, Any]:
    """NVFlare's privacy.json with ONE scope, the default: every job gets these result filters.

    A job that names another scope is refused by NVFlare (the site defines no other), so no job can
    ask its way around the site's filters."""
    filters: list[dict[str, Any]] = []
    if privacy.exclude_layers:
        filters.append({"path": EXCLUDE_VARS, "args": {"exclude_vars": list(privacy.exclude_layers)}})
    if privacy.top_percent is not None:
        # PercentilePrivacy keeps the changes at or above its (interpolated) percentile cutoff, which keeps
        # the boundary entry too: 100 - k would let k% + 1 through. A tenth of a percentile more makes it
        # "at most k%" for any model past a thousand entries.
        top = privacy.top_percent
        filters.append({"path": PERCENTILE_PRIVACY, "args": {"percentile": 100 - top.percent + TOP_MARGIN,
                        "gamma": top.gamma}})  # fmt: skip
    if privacy.noise is not None:
        n = privacy.noise
        filters.append({"path": SVT_PRIVACY, "args": {"fraction": n.fraction, "epsilon": n.epsilon,
                        "noise_var": n.noise_var, "gamma": n.gamma, "tau": n.tau}})  # fmt: skip
    if not privacy.share_local_model:
        filters.append({"path": LOCAL_MODEL_BLOCKER, "args": {}})
    return _scope(filters)


def _scope(filters: list[dict[str, Any]]) -> dict[str, Any]:
    scope = {"name": PRIVACY_SCOPE, "properties": {}, "task_result_filters": filters, "task_data_filters": []}
    return {"scopes": [scope], "default_scope": PRIVACY_SCOPE}


def allow_list(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """A participant's class_allow_list: the kit's (NVFlare's default), flarekube's prefixes, then `extra`.

    The one rule for both the rendered resources.json and the check before a user's job starts
    (`builders/jobcheck.py`), so what the check admits is what the participant admits."""
    allow = list(base)
    for prefix in (*FLAREKUBE_COMPONENT_PREFIXES, *extra):
        if prefix not in allow:
            allow.append(prefix)
    return allow


def is_allowed(path: str, allow: Sequence[str]) -> bool:
    """NVFlare 2.9's match (ComponentPathAuthorizer._path_matches_prefix): "*" admits all; "a.b." is a
    package prefix; "a.b.C" admits itself and what is under it ("a.b.C.x"), never "a.b.Cx"."""
    return "*" in allow or any(
        path == p or (path.startswith(p) if p.endswith(".") else path.startswith(p + ".")) for p in allow
    )


def _allow(resources: dict[str, Any], extra: Sequence[str]) -> dict[str, Any]:
    return {**resources, "class_allow_list": allow_list(resources.get("class_allow_list") or [], extra)}


def _with_monitor(config: dict[str, Any], m: Monitoring, kind: str) -> dict[str, Any]:
    """resources.json or privacy.json with the metrics component added (replacing any of the same id)."""
    args: dict[str, Any] = {"port": m.port, "project": m.project, "namespace": m.namespace, "host": m.host}
    if kind == "server":
        args["sites"] = list(m.sites)
    components = [c for c in config.get("components") or [] if c.get("id") != MONITOR_ID]
    return {**config, "components": [*components, {"id": MONITOR_ID, "path": MONITOR_COMPONENT, "args": args}]}


def refused_certificates(ledger: Iterable[LedgerEntry]) -> bytes:
    """The server's refused list: every certificate the ledger superseded or revoked, sorted (so the same
    ledger always renders the same bytes). Serials only: no key material, safe in a ConfigMap."""
    refused = sorted({(e.serial, e.participant, e.status) for e in ledger if e.status != "active"})
    entries = [{"serial": serial, "participant": who, "status": status} for serial, who, status in refused]
    return _dump({"format": REFUSED_CERTS_FORMAT, "refused": entries})


def _with_component(resources: dict[str, Any], component: dict[str, Any]) -> dict[str, Any]:
    components = [c for c in resources.get("components") or [] if c.get("id") != component["id"]]
    return {**resources, "components": [*components, component]}


def digest(files: Mapping[str, bytes]) -> str:
    """A short, stable fingerprint of a rendered local/ folder (status, the pod template's annotation);
    the files read live (LIVE) are left out."""
    h = hashlib.sha256()
    for name in sorted(set(files) - set(LIVE)):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:16]


def _json(defaults: Mapping[str, bytes], name: str) -> dict[str, Any]:
    raw = defaults.get(name)
    if raw is None:
        raise RenderError(f"the kit has no local/{name} (NVFlare's provisioner always writes it)")
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise RenderError(f"local/{name} in the kit is not a JSON object")
    return value


def _dump(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
