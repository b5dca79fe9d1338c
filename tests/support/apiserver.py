"""A bare, private kube-apiserver + etcd for schema and CEL tests (session scope, ~5 s to start).

No kubelet, scheduler or controllers: CRD validation happens entirely in the API server, so this is the
real thing for what these tests check, and it does not touch the shared local cluster (its own ports,
its own etcd in a temporary folder). The binaries are the cluster build's (`make cluster-build`); the
tests skip with that instruction when they are not built yet. Used by tests/apiserver, tests/kube and
bench/bench_operator.py (`from tests.support.apiserver import BareApiServer, binaries`).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import yaml
from clustertool import config as cluster_config  # versions and cache paths live there
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client
from kubernetes.client.rest import ApiException

READY_TIMEOUT = 90.0
PR_SET_PDEATHSIG = 1


def binaries() -> tuple[Path, Path]:
    paths = cluster_config.default_paths()
    k8s_bin = Path(os.environ.get("FLAREKUBE_K8S_BIN", paths.k8s_bin))
    return k8s_bin / "kube-apiserver", Path(os.environ.get("FLAREKUBE_ETCD", paths.etcd_bin))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_service_account_keys(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = folder / "sa.key", folder / "sa.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _die_with_parent() -> None:
    """In the child: SIGKILL it when the test process dies, so a killed pytest leaves nothing running."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class BareApiServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent)
        self.procs.append((proc, log))
        return proc

    def start(self, apiserver: Path, etcd: Path) -> None:
        client_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        self._start("etcd", [
            str(etcd), "--name", "crd-tests", "--data-dir", str(self.root / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"crd-tests=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level", "error",
        ])
        sa_key, sa_pub = _write_service_account_keys(self.root)
        tokens = self.root / "tokens.csv"
        tokens.write_text(f"{self.token},admin,admin,system:masters\n")
        self._start("kube-apiserver", [
            str(apiserver), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--cert-dir={self.root / 'certs'}",  # a self-signed serving certificate is generated there
            f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24", "--profiling=false", "--v=0",
        ])

    def wait_ready(self) -> None:
        http = urllib3.PoolManager(cert_reqs="CERT_NONE")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{log.stem} exited ({proc.returncode}):\n{_tail(log)}")
            try:
                r = http.request("GET", f"https://127.0.0.1:{self.port}/readyz",
                                 headers={"Authorization": f"Bearer {self.token}"}, timeout=2, retries=False)
                if r.status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.3)
        log = _tail(self.root / "kube-apiserver.log")
        raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT:.0f} s:\n{log}")

    def api_client(self) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = f"https://127.0.0.1:{self.port}"
        cfg.verify_ssl = False  # the server's certificate is self-signed and lives only as long as the test run
        cfg.api_key = {"authorization": self.token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(cfg)

    def stop(self) -> None:
        """API server first (it would wait for a vanished etcd), then etcd; SIGKILL after a grace period."""
        for proc, _ in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    """An ApiClient (cluster-admin) for a private kube-apiserver that lives for the test session."""
    kube_apiserver, etcd = binaries()
    missing = [str(p) for p in (kube_apiserver, etcd) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(f"not built yet: {', '.join(missing)} (run `make cluster-build`)")
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    server = BareApiServer(tmp_path_factory.mktemp("apiserver"))
    try:
        server.start(kube_apiserver, etcd)
        server.wait_ready()
        api = server.api_client()
        yield api
        api.close()
    finally:
        server.stop()


GROUP, VERSION = "flarekube.io", "v1alpha1"
PLURAL = {"FLProject": "flprojects", "FLJob": "fljobs"}
NS = "default"


def install_crds(api: client.ApiClient, folder: Path) -> None:
    """Create the chart's CRDs (already there from another module of this session: fine) and wait until
    they are Established and their endpoints answer."""
    ext = client.ApiextensionsV1Api(api)
    for path in sorted(folder.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as err:
            if err.status != 409:
                raise AssertionError(f"the API server refused {path.name}: {err.body}") from None
    deadline = time.monotonic() + 30
    for name in ("flprojects.flarekube.io", "fljobs.flarekube.io"):
        while True:
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                break
            assert time.monotonic() < deadline, f"CRD {name} not Established: {conds}"
            time.sleep(0.2)
    # Discovery of a new group lags Established by a moment; wait until a list succeeds.
    custom = client.CustomObjectsApi(api)
    while True:
        try:
            custom.list_namespaced_custom_object(GROUP, VERSION, NS, "fljobs")
            custom.list_namespaced_custom_object(GROUP, VERSION, NS, "flprojects")
            return
        except ApiException:
            assert time.monotonic() < deadline, "the CRDs' endpoints never answered"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def custom(apiserver: client.ApiClient) -> Iterator[client.CustomObjectsApi]:
    """The private API server with the chart's CRDs installed once per session (checked fresh first)."""
    from flarekube import crd

    assert not crd.drift(), f"the chart's CRDs are stale; run: {crd.REGENERATE}"
    install_crds(apiserver, crd.CHART_CRDS)
    yield client.CustomObjectsApi(apiserver)
