"""The ONE writer of the connection files NVFlare reads from `startup/`: where the server listens and is dialled.

NVFlare's provisioner writes the server's ports into every kit (`fed_server.json`: the FL target and the
admin port; `fed_client.json`: the FL target; `fed_admin.json`: the admin port). No certificate names a
port, so the ports are configuration, not identity: flarekube renders these files here from the kit's
own copies and the spec's ports, and writes them OVER the kit's copies -- `flarekube run` into each
participant's run copy, a cluster from a ConfigMap per participant (builders/localconfig.py) whose digest
on the pod template rolls the pod. A port change re-renders them and re-issues nothing; the kit Secret
and every certificate stay byte-identical.

The host stays as the kit has it: it is the server's name, the TLS identity in its certificate, and a
change there does need new kits (the kit store refuses it without --reissue-kits). Pure and
deterministic: the same kit and ports give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flarekube.api.project import FLProject
from flarekube.provisioning.model import Kit

STARTUP = "startup/"
FILE_BY_KIND = {"server": "fed_server.json", "client": "fed_client.json", "admin": "fed_admin.json"}

ConnectionFiles = dict[str, bytes]  # path inside the kit ("startup/fed_client.json") -> content


class ConnectionRenderError(ValueError):
    """The kit's connection file is missing or not in NVFlare's format; the message names the file."""


@dataclass(frozen=True)
class Ports:
    """The server's ports as the spec has them now (locally: the ones `flarekube run` chose)."""

    fl: int
    admin: int


def spec_ports(project: FLProject) -> Ports:
    return Ports(project.spec.server.fl_port, project.spec.server.admin_port)


def render_connection(kit_files: Mapping[str, bytes], kind: str, ports: Ports) -> ConnectionFiles:
    """The connection file of one participant (`kind` "server", "client" or "admin"), rendered for `ports`."""
    name = FILE_BY_KIND.get(kind)
    if name is None:
        raise ConnectionRenderError(f"no connection file for a participant of kind {kind!r}")
    path = STARTUP + name
    config = _json(kit_files, path)
    if kind == "admin":
        admin = config.get("admin")
        if not isinstance(admin, dict) or "port" not in admin:
            raise ConnectionRenderError(f"{path} has no admin.port (not NVFlare's format)")
        admin["port"] = ports.admin
    else:
        servers = config.get("servers")
        if not isinstance(servers, list) or not servers:
            raise ConnectionRenderError(f"{path} has no servers (not NVFlare's format)")
        for server in servers:
            _retarget(server, path, ports.fl)
            if kind == "server":
                server["admin_port"] = ports.admin
    return {path: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()}


def for_kit(ports: Ports) -> Callable[[Kit], ConnectionFiles]:
    """What `provisioning.materialize` writes over a kit: its connection file rendered for `ports`."""
    return lambda kit: render_connection(kit.files, kit.kind, ports)


def _retarget(server: Any, path: str, fl_port: int) -> None:
    """`host:port` -> `host:<fl_port>`: the host (the server's TLS identity) is kept as issued."""
    service = server.get("service") if isinstance(server, dict) else None
    target = service.get("target") if isinstance(service, dict) else None
    if not isinstance(service, dict) or not isinstance(target, str) or ":" not in target:
        raise ConnectionRenderError(f"{path}: servers[].service.target is not host:port (not NVFlare's format)")
    host = target.rpartition(":")[0]
    service["target"] = f"{host}:{fl_port}"


def file_names(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The same files keyed by their name inside startup/ (a ConfigMap's keys)."""
    return {path.removeprefix(STARTUP): data for path, data in files.items()}


def _json(kit_files: Mapping[str, bytes], path: str) -> dict[str, Any]:
    raw = kit_files.get(path)
    if raw is None:
        raise ConnectionRenderError(f"the kit has no {path} (NVFlare's provisioner always writes it)")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConnectionRenderError(f"{path} in the kit is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConnectionRenderError(f"{path} in the kit is not a JSON object")
    return value
