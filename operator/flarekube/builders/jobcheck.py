"""A user's NVFlare job folder, read and checked before anything starts (no kit, no process).

What NVFlare itself would refuse later, one job process deep in a log, is named here up front:
- the folder is an NVFlare job: meta.json / meta.conf with a deploy_map, and for each app the config NVFlare
  needs where it is deployed (config_fed_server.* on the server, config_fed_client.* on a site);
- every component class path a config names (NVFlare builds each dict with `path` / `class_path`) imports in
  this runtime (the caller says how: `import_error`), else the missing Python package is named;
- each participant's policy admits the job the way NVFlare 2.9 decides it
  (`nvflare.app_common.widgets.component_path_authorizer`): a job with any `custom/` folder is "bring your
  own code" (its components skip the allow-list, the site's `customCode` decides); any other job's
  components must each match the participant's `class_allow_list` (NVFlare's default list, flarekube's
  own prefixes and the policy's `allowComponents`: `builders/sitelocal.allow_list`).
Configs are read with NVFlare's own ConfigFactory, so `.json` and `.conf` (HOCON) read as NVFlare reads them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST

from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.builders.sitelocal import SERVER_OPTIMIZERS, allow_list, is_allowed

WHERE = "spec.workload.jobFolder"
SERVER = "server"  # NVFlare's name for the server in a deploy_map (nvflare.apis.job_def.SERVER_SITE_NAME)
ALL_SITES = "@ALL"
SERVER_CONFIG = "config_fed_server"
CLIENT_CONFIG = "config_fed_client"
CONFIG_SUFFIXES = (".json", ".conf", ".yml", ".yaml")
# NVFlare's own rule for a component path (component_path_authorizer._COMPONENT_PATH_PATTERN).
COMPONENT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")


class JobFolderError(ValueError):
    """The job folder cannot be built or is not an NVFlare job folder."""


@dataclass(frozen=True)
class Problem:
    """One reason the job cannot run; `refused`: a site's policy says no (exit 4), else invalid input (3).
    `site`: the site whose policy refuses; `warning`: that site will refuse the job but enough others run it
    (NVFlare enforces the site's policy there, issue 10; the job goes on without it)."""

    message: str
    refused: bool = False
    site: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class App:
    name: str
    folder: Path
    server: dict[str, Any] | None  # config_fed_server, when the app has one
    client: dict[str, Any] | None
    has_custom: bool


@dataclass(frozen=True)
class JobFolder:
    root: Path
    meta: dict[str, Any]
    apps: dict[str, App]
    deploy_map: dict[str, list[str]]

    @property
    def byoc(self) -> bool:
        """NVFlare's BYOC mark: derived from the apps' contents (any custom/ folder), never from meta."""
        return any(app.has_custom for app in self.apps.values())

    def apps_of(self, participant: str) -> list[App]:
        """The apps deployed to `participant` ("server" or a site); @ALL counts for everyone."""
        return [self.apps[name] for name, targets in self.deploy_map.items()
                if name in self.apps and (participant in targets or ALL_SITES in targets)]  # fmt: skip


def _load(folder: Path, basename: str) -> tuple[dict[str, Any] | None, str | None]:
    """A config NVFlare would find (basename + any format it reads); (None, None) when there is none."""
    from nvflare.fuel.utils.config_factory import ConfigFactory

    candidates = [folder / (basename + s) for s in CONFIG_SUFFIXES if (folder / (basename + s)).is_file()]
    if not candidates:
        return None, None
    try:
        config = ConfigFactory.load_config(candidates[0].name, [str(folder)])
        data = config.to_dict() if config is not None else None
    except Exception as err:  # JSON / HOCON / YAML syntax: NVFlare's loaders raise their own types
        return None, f"{candidates[0]} cannot be read: {err}"
    if not isinstance(data, dict):
        return None, f"{candidates[0]} is not a mapping"
    return data, None


def read_job_folder(folder: Path) -> tuple[JobFolder | None, list[Problem]]:
    """The job's meta, deploy_map and app configs; or the problems that make it not an NVFlare job."""
    if not folder.exists():
        return None, [Problem(f"{WHERE}.path: {folder} does not exist")]
    if not folder.is_dir():
        return None, [Problem(f"{WHERE}.path: {folder} is not a folder")]
    meta, error = _load(folder, "meta")
    if error:
        return None, [Problem(f"{WHERE}.path: {error}")]
    if meta is None:
        return None, [Problem(f"{WHERE}.path: {folder} has no meta.json or meta.conf (not an NVFlare job folder; "
                              "FedJob.export_job writes one)")]  # fmt: skip
    deploy = meta.get("deploy_map")
    if not isinstance(deploy, dict) or not deploy:
        return None, [Problem(f"{WHERE}.path: {folder}/meta has no deploy_map (which app runs where)")]
    problems: list[Problem] = []
    apps: dict[str, App] = {}
    deploy_map: dict[str, list[str]] = {}
    for name, targets in deploy.items():
        app_dir = folder / str(name)
        deploy_map[str(name)] = [str(t) for t in targets] if isinstance(targets, list) else []
        if not app_dir.is_dir():
            problems.append(Problem(f"{WHERE}.path: deploy_map names app {name!r}, but {app_dir} is no folder"))
            continue
        config_dir = app_dir / "config" if (app_dir / "config").is_dir() else app_dir
        server, s_err = _load(config_dir, SERVER_CONFIG)
        client, c_err = _load(config_dir, CLIENT_CONFIG)
        problems += [Problem(f"{WHERE}.path: {e}") for e in (s_err, c_err) if e]
        targets_ = deploy_map[str(name)]
        on_server = SERVER in targets_ or ALL_SITES in targets_
        on_sites = ALL_SITES in targets_ or any(t != SERVER for t in targets_)
        if on_server and server is None and not s_err:
            problems.append(Problem(f"{WHERE}.path: app {name!r} runs on the server but has no "
                                    f"{config_dir}/{SERVER_CONFIG}.json (or .conf)"))  # fmt: skip
        if on_sites and client is None and not c_err:
            problems.append(Problem(f"{WHERE}.path: app {name!r} runs on sites but has no "
                                    f"{config_dir}/{CLIENT_CONFIG}.json (or .conf)"))  # fmt: skip
        apps[str(name)] = App(str(name), app_dir, server, client, (app_dir / "custom").is_dir())
    return JobFolder(folder, meta, apps, deploy_map), problems


def components(config: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every (class path, location) NVFlare would build from a config: each dict naming `path` or
    `class_path`, nested ones included (ComponentBuilder builds component args recursively)."""
    if isinstance(config, dict):
        path = config.get("path", config.get("class_path"))
        if isinstance(path, str) and config.get("config_type", "component") == "component":
            yield path, where or "."
        for key, value in config.items():
            yield from components(value, f"{where}.{key}" if where else str(key))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from components(value, f"{where}[{i}]")


def _custom_modules(app: App) -> set[str]:
    """Top-level modules the app's custom/ folder brings (NVFlare puts custom/ on the job's sys.path)."""
    custom = app.folder / "custom"
    if not custom.is_dir():
        return set()
    return {p.stem if p.is_file() else p.name for p in custom.iterdir() if p.suffix == ".py" or p.is_dir()}


def policy_field(project: FLProject, participant: str) -> str:
    if participant == SERVER:
        return "spec.server.allowComponents"
    index = [s.name for s in project.spec.sites].index(participant)
    return f"spec.sites[{index}].policy.allowComponents"


def check_job_folder(
    project: FLProject,
    job: FLJob,
    folder: Path,
    sites: list[str],
    import_error: Callable[[str], str | None] | None = None,
) -> list[Problem]:
    """Every reason the job folder cannot run on `sites` (and the server), found before anything starts.

    import_error(class_path): why the class does not import in this runtime, None when it does; None to
    skip the import check (the operator, whose runtime is the sites' image, not its own)."""
    parsed, problems = read_job_folder(folder)
    if parsed is None:
        return problems
    names = [s.name for s in project.spec.sites]
    def deployed(participant: str) -> bool:
        return any(participant in t or ALL_SITES in t for t in parsed.deploy_map.values())

    for site in sites:
        if not deployed(site):
            problems.append(Problem(f"{WHERE}: site {site} runs this job but meta's deploy_map gives it no app"))
    if not deployed(SERVER):
        problems.append(Problem(f"{WHERE}: meta's deploy_map gives the server no app"))
    used: dict[str, list[str]] = {}  # class path -> participants that build it
    for participant in (SERVER, *sites):
        side = "server" if participant == SERVER else "client"
        base = (*SERVER_OPTIMIZERS, *project.spec.server.allow_components) if participant == SERVER else (
            tuple(project.site(participant).policy.allow_components) if participant in names else ())
        allowed = allow_list(DEFAULT_CLASS_ALLOW_LIST, base)
        for app in parsed.apps_of(participant):
            config = app.server if side == "server" else app.client
            local = _custom_modules(app)
            for path, where in components(config or {}):
                location = f"{app.name}/{SERVER_CONFIG if side == 'server' else CLIENT_CONFIG} {where}"
                if not COMPONENT_PATH.fullmatch(path):
                    problems.append(Problem(f"{WHERE}: {location}: {path!r} is not a dotted Python class path"))
                    continue
                if path.split(".")[0] not in local:
                    used.setdefault(path, [])
                    if participant not in used[path]:
                        used[path].append(participant)
                if not parsed.byoc and not is_allowed(path, allowed):
                    problems.append(Problem(
                        f"{participant}: component {path} ({location}) is not allowed by its policy (NVFlare's "
                        f"class_allow_list); add it (or a prefix of it) to {policy_field(project, participant)}",
                        refused=True, site=None if participant == SERVER else participant))  # fmt: skip
    if parsed.byoc:
        custom = ", ".join(sorted(f"{a.name}/custom" for a in parsed.apps.values() if a.has_custom))
        for i, name in enumerate(names):
            if name in sites and project.spec.sites[i].policy.custom_code != "allow":
                problems.append(Problem(
                    f"{name}: the job brings its own code ({custom}), which its policy refuses; set "
                    f'spec.sites[{i}].policy.customCode to "allow" (or install the code in the runtime and '
                    "drop custom/)", refused=True, site=name))  # fmt: skip
    for path, participants in used.items() if import_error is not None else ():
        assert import_error is not None
        error = import_error(path)
        if error:
            problems.append(Problem(f"{', '.join(participants)}: component {path} does not import here: {error}"))
    return tolerate_site_refusals(problems, sites, job.spec.min_sites)


def tolerate_site_refusals(problems: list[Problem], sites: list[str], min_sites: int) -> list[Problem]:
    """Sites whose own policy refuses the job become warnings when every other problem is absent and the
    sites left still meet minSites: NVFlare refuses it at those sites and the job runs on the others."""
    refusing = {p.site for p in problems if p.refused and p.site}
    blocking = [p for p in problems if not (p.refused and p.site)]
    if not refusing or blocking or len(set(sites) - refusing) < min_sites:
        return problems
    return [dataclasses.replace(p, warning=True) for p in problems]


def job_folder_errors(folder: Path) -> list[str]:
    """The folder's shape alone (no project at hand): what `flarekube submit` checks before packing."""
    return [str(p) for p in read_job_folder(folder)[1]]
