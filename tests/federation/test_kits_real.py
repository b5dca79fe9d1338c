"""Kits from the store actually work: a real NVFlare server and two clients over mTLS, one of them issued
in a later ensure_kits run (so it only works if the root CA really was kept), checked with the Flare API.

Started exactly like NVFlare's own start.sh does (``startup/sub_start.sh``, here with ``--once``: exec
the Python process, no restart loop), each in its own session so the whole process group can be stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flarekube.provisioning import (
    AdminIdentity,
    ClientIdentity,
    LocalKitStore,
    ProvisioningInputs,
    ServerIdentity,
    ensure_kits,
    materialize,
)

pytestmark = [pytest.mark.nvflare, pytest.mark.timeout(60)]

ADMIN = "admin@nvidia.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(ws: Path) -> subprocess.Popen[bytes]:
    # sub_start.sh runs `python3` from PATH: put this interpreter's venv first.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with open(ws / "console.log", "wb") as log:
        return subprocess.Popen(
            [str(ws / "startup" / "sub_start.sh"), "--once"],
            cwd=ws,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches every job process it spawns
        )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        _signal_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        _signal_group(p.pid, signal.SIGKILL)  # also reaps children left in the group
        p.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[dict[str, Path], list[subprocess.Popen[bytes]]]]:
    port = free_port()
    base = ProvisioningInputs(
        project="kitcheck",
        server=ServerIdentity(name="localhost", org="nvidia", fl_port=port, admin_port=port),
        clients=(ClientIdentity("site-1", "hospital_a"),),
        admins=(AdminIdentity(ADMIN, "nvidia"),),
    )
    store = LocalKitStore(tmp_path / "kits")
    ensure_kits(base, store)
    later = ProvisioningInputs(
        base.project, base.server, (*base.clients, ClientIdentity("site-2", "hospital_b")), base.admins
    )
    assert ensure_kits(later, store).issued == ("site-2",)  # the server kit is from the first run

    ws = {n: materialize(store, n, tmp_path / "ws" / n) for n in ("localhost", "site-1", "site-2", ADMIN)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start(ws["localhost"]))
        procs += [start(ws["site-1"]), start(ws["site-2"])]
        yield ws, procs
    finally:
        stop(procs)


def test_store_issued_kits_form_a_working_mtls_federation(
    federation: tuple[dict[str, Path], list[subprocess.Popen[bytes]]],
) -> None:
    from nvflare.fuel.flare_api.flare_api import new_secure_session

    ws, procs = federation
    t0 = time.monotonic()
    sess = new_secure_session(ADMIN, str(ws[ADMIN]), timeout=30)
    try:
        connected: set[str] = set()
        while time.monotonic() - t0 < 30 and connected != {"site-1", "site-2"}:
            for p, name in zip(procs, ("server", "site-1", "site-2"), strict=True):
                assert p.poll() is None, f"{name} exited: " + _tail(ws, name)
            connected = {c.name for c in sess.get_system_info().client_info}
            time.sleep(0.2)
        assert connected == {"site-1", "site-2"}, _tail(ws, "site-2")
        print(f"both sites connected {time.monotonic() - t0:.1f}s after the admin session started")
    finally:
        sess.close()

    stop(procs)
    assert not any(group_alive(p.pid) for p in procs), "processes left behind"


def _tail(ws: dict[str, Path], name: str) -> str:
    path = ws["localhost" if name == "server" else name] / "console.log"
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"
