"""The cluster's PKI, made with the openssl command (no Python dependency, so `down` and `status` work
before the venv exists). EC P-256 keys: fast to generate, accepted by every component.

The CA and keys persist in the state dir across down/up (a kubeconfig handed out stays valid); anything
missing is made again, and a missing CA re-issues everything, since the old leaves would not verify.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import config as c

DAYS = "3650"


@dataclass(frozen=True)
class Leaf:
    name: str
    cn: str
    org: str = ""
    usage: str = "clientAuth"
    sans: tuple[str, ...] = ()
    ca: str = "ca"


def leaves() -> list[Leaf]:
    api_sans = (
        "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
        f"DNS:kubernetes.default.svc.{c.CLUSTER_DOMAIN}", "DNS:localhost",
        "IP:127.0.0.1", f"IP:{c.NODE_IP}", f"IP:{c.API_SERVICE_IP}",
    )
    return [
        Leaf("apiserver", "kube-apiserver", usage="serverAuth", sans=api_sans),
        Leaf("apiserver-kubelet-client", "kube-apiserver-kubelet-client", org="system:masters"),
        Leaf("admin", "flarekube-admin", org="system:masters"),
        Leaf("controller-manager", "system:kube-controller-manager"),
        Leaf("scheduler", "system:kube-scheduler"),
        Leaf("kube-proxy", "system:kube-proxy"),
        Leaf("kubelet", f"system:node:{c.NODE_NAME}", org="system:nodes"),
        Leaf("kubelet-serving", f"system:node:{c.NODE_NAME}", org="system:nodes", usage="serverAuth",
             sans=(f"DNS:{c.NODE_NAME}", f"IP:{c.NODE_IP}", "IP:127.0.0.1")),
        # The hostpath provisioner runs on the host; a ClusterRole in the addons grants it PV/PVC access.
        Leaf("provisioner", "flarekube:hostpath-provisioner"),
        # kube-router's policy controller runs on the host too; read-only RBAC in the addons.
        Leaf("kube-router", "flarekube:kube-router"),
        # The aggregation layer's client, under a CA of its own: a certificate from the cluster CA must
        # never be able to assert another user's identity through the request headers.
        Leaf("front-proxy-client", "front-proxy-client", ca="front-proxy-ca"),
    ]


CAS = {"ca": "flarekube-cluster-ca", "front-proxy-ca": "flarekube-front-proxy-ca"}


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _key(path: Path) -> None:
    if not path.exists():
        path.write_bytes(_openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout"))
        path.chmod(0o600)


def ensure(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    for ca, cn in CAS.items():
        ca_crt, ca_key = pki / f"{ca}.crt", pki / f"{ca}.key"
        if ca_crt.exists() and ca_key.exists():
            continue
        for leaf in leaves():
            if leaf.ca == ca:
                (pki / f"{leaf.name}.crt").unlink(missing_ok=True)
        _key(ca_key)
        _openssl("req", "-x509", "-new", "-key", str(ca_key), "-subj", f"/CN={cn}",
                 "-days", DAYS, "-sha256", "-out", str(ca_crt),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    _key(pki / "sa.key")
    if not (pki / "sa.pub").exists():
        (pki / "sa.pub").write_bytes(_openssl("ec", "-in", str(pki / "sa.key"), "-pubout"))
    for leaf in leaves():
        key, crt = pki / f"{leaf.name}.key", pki / f"{leaf.name}.crt"
        if crt.exists() and key.exists():
            continue
        _key(key)
        subj = (f"/O={leaf.org}" if leaf.org else "") + f"/CN={leaf.cn}"
        csr = _openssl("req", "-new", "-key", str(key), "-subj", subj)
        ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
               f"extendedKeyUsage={leaf.usage}"]
        if leaf.sans:
            ext.append("subjectAltName=" + ",".join(leaf.sans))
        with tempfile.NamedTemporaryFile("w", suffix=".ext") as fh:
            fh.write("\n".join(ext) + "\n")
            fh.flush()
            crt.write_bytes(_openssl("x509", "-req", "-CA", str(pki / f"{leaf.ca}.crt"),
                                     "-CAkey", str(pki / f"{leaf.ca}.key"),
                                     "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", fh.name,
                                     stdin=csr))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(pki: Path, leaf: str, server: str, out: Path, user: str | None = None) -> None:
    """A self-contained kubeconfig (certificates embedded) so it can be copied anywhere."""
    name = user or leaf
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: flarekube
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: {name}
  user:
    client-certificate-data: {_b64(pki / f"{leaf}.crt")}
    client-key-data: {_b64(pki / f"{leaf}.key")}
contexts:
- name: flarekube
  context:
    cluster: flarekube
    user: {name}
current-context: flarekube
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(out)
