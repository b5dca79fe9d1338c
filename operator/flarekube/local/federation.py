"""Bring up a project's federation on this machine: kits -> server + one process per site -> all connected.

Everything started here is owned by the Supervisor; leaving the `running` context stops it all.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nvflare.fuel.flare_api.flare_api import Session

from flarekube import flare
from flarekube.api.project import FLProject
from flarekube.builders.connection import Ports, for_kit
from flarekube.builders.provisioning import provisioning_inputs
from flarekube.builders.sitelocal import RENDERED, Monitoring, digest, render_local
from flarekube.local.identity import Identity, root_ca_refusal, write_identity
from flarekube.local.supervisor import Supervisor
from flarekube.local.workspace import Workspace
from flarekube.provisioning import (
    KitPlan,
    KitReport,
    KitStoreRefusal,
    LocalKitStore,
    StoredState,
    ensure_kits,
    load_state,
    materialize,
    plan,
)
from flarekube.provisioning.codec import decode_kit
from flarekube.provisioning.ledger import decode_ledger

LOCAL_SERVER_HOST = "localhost"  # a loopback TLS identity: NVFlare then binds 127.0.0.1 only
LOCAL_NAMESPACE = "local"  # the `namespace` label of a local run's federation metrics
ADMIN_CONNECT_TIMEOUT = 60.0  # the server alone; sites get the caller's connect_timeout


class FederationError(RuntimeError):
    """The federation could not be brought up; the message says which participant and why."""


@dataclass
class LocalFederation:
    workspace: Workspace
    supervisor: Supervisor
    admin_user: str
    admin_kit: Path
    session: Session
    sites: list[str]
    policies: dict[str, str]  # site -> digest of the local/ folder it runs with (its policy, rendered)


def issue_kits(
    project: FLProject, ws: Workspace, *, reissue_kits: bool, new_root_ca: bool, readmit_revoked: bool = False
) -> KitReport:
    refusal = root_ca_refusal(project, ws, new_root_ca=new_root_ca)  # before anything is written
    if refusal:
        raise KitStoreRefusal(refusal)
    ws.create()
    # Ports are config (builders/connection.py): whichever are chosen, no kit is re-issued for them.
    ports = ws.ports((project.spec.server.fl_port, project.spec.server.admin_port))
    inputs = provisioning_inputs(project, LOCAL_SERVER_HOST, ports, humans=True)
    report = ensure_kits(inputs, LocalKitStore(ws.kits), reissue_kits=reissue_kits, new_root_ca=new_root_ca,
                         readmit_revoked=readmit_revoked)  # fmt: skip
    write_identity(ws, Identity(project.metadata.name, project.project_name, report.ca_fingerprint))
    return report


def plan_kits(project: FLProject, ws: Workspace, *, reissue_kits: bool, new_root_ca: bool) -> KitPlan:
    """What `issue_kits` would do, computed without writing anything (not even the port record)."""
    refusal = root_ca_refusal(project, ws, new_root_ca=new_root_ca)
    if refusal:
        return KitPlan(False, (), (), (), refusal=refusal)
    ports = ws.choose_ports((project.spec.server.fl_port, project.spec.server.admin_port))
    inputs = provisioning_inputs(project, LOCAL_SERVER_HOST, ports, humans=True)
    stored = load_state(LocalKitStore.reader(ws.kits)) if ws.kits.is_dir() else StoredState(None, None, {})
    return plan(inputs, stored, reissue_kits=reissue_kits, new_root_ca=new_root_ca)


@contextlib.contextmanager
def running(
    project: FLProject,
    ws: Workspace,
    sites: list[str],
    site_env: Callable[[str], dict[str, str]],
    connect_timeout: float = 60.0,
    metrics_port: int | None = None,
) -> Iterator[LocalFederation]:
    """Start the server and `sites` from the issued kits; yield once every site is connected.

    Every participant's run copy gets its connection file rendered for the ports `issue_kits` chose
    (the kit's own copy may name older ones: ports are config, never a reason to re-issue).

    With `metrics_port`, the server serves its federation metrics on that port and site i (0-based, in
    `sites` order) on `metrics_port + 1 + i`, all on 127.0.0.1 (`metrics_ports`)."""
    store = LocalKitStore(ws.kits)
    saved = ws.saved_ports() or (project.spec.server.fl_port, project.spec.server.admin_port)
    connection = for_kit(Ports(*saved))
    # The operator's identity submits here as on a cluster: the same rights, the same refusals.
    admin = project.operator_admin
    ws.fresh_run()
    with Supervisor(watch=ws.run) as supervisor:
        server_ws = materialize(store, LOCAL_SERVER_HOST, ws.participant("server"), connection)
        monitor = metrics_ports(metrics_port, project.metadata.name, sites)
        write_local(store, LOCAL_SERVER_HOST, server_ws, "server", project, monitor.get("server"))
        private_job_store(server_ws, ws.run / "nvflare")
        supervisor.start("server", server_ws, ws.logs / "server.log", env=site_env("server"))
        policies: dict[str, str] = {}
        for name in sites:
            site_ws = materialize(store, name, ws.participant(name), connection)
            policies[name] = write_local(store, name, site_ws, "client", project, monitor.get(name))
            supervisor.start(name, site_ws, ws.logs / f"{name}.log", env=site_env(name))
        admin_kit = materialize(store, admin, ws.participant("admin"), connection)
        deadline = time.monotonic() + connect_timeout  # counted from the sites' start
        try:
            session = flare.connect(admin_kit, admin, timeout=ADMIN_CONNECT_TIMEOUT)
        except flare.FederationUnavailable as err:
            raise FederationError(_with_tail(str(err), supervisor, "server")) from None
        try:
            _wait_connected(session, supervisor, sites, deadline, connect_timeout)
            yield LocalFederation(ws, supervisor, admin, admin_kit, session, sites, policies)
        finally:
            session.close()


def metrics_ports(port: int | None, project: str, sites: list[str]) -> dict[str, Monitoring]:
    """Each participant's federation metrics endpoint for `flarekube run --metrics-port` (labelled with the
    FLProject's name and namespace "local")."""
    if port is None:
        return {}
    names = ["server", *sites]
    return {n: Monitoring(port + i, project, LOCAL_NAMESPACE, "127.0.0.1", tuple(sites)) for i, n in enumerate(names)}


def write_local(
    store: LocalKitStore, name: str, dest: Path, kind: str, project: FLProject, monitoring: Monitoring | None = None
) -> str:
    """This run's copy of the participant's local/: the kit's NVFlare defaults + the rendered policy.

    The kit in the store is never touched: policy is configuration, so a changed policy shows up here on
    the next run and no certificate is re-issued. Returns the rendered folder's digest."""
    policy = project.site(name).policy if kind == "client" else None
    ledger = decode_ledger(store.get_ledger()).entries if kind == "server" else ()  # its refused serials
    files = render_local(decode_kit(store.get_kit(name)).files, kind, policy, monitoring=monitoring,
                         server_components=project.spec.server.allow_components, ledger=ledger)  # fmt: skip
    local = dest / "local"
    for stale in RENDERED:  # a kit issued before policies were rendered apart carried its own copy
        (local / stale).unlink(missing_ok=True)
    for fname, data in files.items():
        path = local / fname
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return digest(files)


NVFLARE_DEFAULT_STORE = "/tmp/nvflare/"  # the kit's default root of jobs-storage and snapshot-storage


def private_job_store(server_ws: Path, root: Path) -> None:
    """Point the server's job and snapshot stores into this run's folder.

    NVFlare's default is /tmp/nvflare, shared by every server on the machine: two local runs at once
    would see each other's jobs. The kit stays as issued; only this run's copy of local/ changes.
    """
    for name in ("resources.json", "resources.json.default"):
        path = server_ws / "local" / name
        if path.is_file():
            path.write_text(path.read_text().replace(NVFLARE_DEFAULT_STORE, f"{root}/"))


def _wait_connected(
    session: Session, supervisor: Supervisor, sites: list[str], deadline: float, timeout: float
) -> None:
    missing = set(sites)
    while True:
        dead = supervisor.dead()
        if dead:
            first = dead[0]
            raise FederationError(
                _with_tail(f"{first.name} exited before the federation was up", supervisor, first.name)
            )
        missing = set(sites) - flare.connected_sites(session)
        if not missing:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    name = sorted(missing)[0]
    raise FederationError(
        _with_tail(
            f"site(s) {', '.join(sorted(missing))} did not connect to the server within {timeout:.0f}s",
            supervisor,
            name,
        )
    )


def _with_tail(message: str, supervisor: Supervisor, name: str) -> str:
    participant = supervisor.participants.get(name)
    if participant is None:
        return message
    return f"{message}\n--- last lines of {participant.log} ---\n{participant.log_tail()}"
