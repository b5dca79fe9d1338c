"""CertGuard: the server refuses a client whose certificate the project's ledger no longer admits.

NVFlare has no certificate revocation: a renewed or re-issued site's OLD kit is signed by the same root
CA, so TLS and NVFlare's identity check (``ClientManager.authenticated_client``: the CN, signed nonce and
root) accept it, and a second registration under the same name even logs the current holder out.
flarekube's ledger marks such certificates superseded or revoked; ``builders/sitelocal.py`` renders their
serials into the server's ``local/`` (``contract.REFUSED_CERTS_FILE``) and this component into its resources.json.

The hook, and why this one: the only place a client's certificate reaches the server is the payload of
its registration request (``IdentityChallengeKey.CERT``, the chain NVFlare then verifies against the
signed nonce). The transport keeps only the peer's CN (``DriverParams.PEER_CN``), and
``EventType.CLIENT_REGISTER_RECEIVED`` is fired with an FLContext that carries neither the request nor
the certificate (only the client's own, self-reported peer context). So at SYSTEM_START (the server's
cell is up and ``FederatedServer._register_cellnet_cbs`` has run) the guard adds a cellnet
*incoming request filter* on ``SERVER_MAIN``/``Register``: CoreCell runs it after decoding the payload and
before ``FederatedServer.register_client``; returning a reply ends the request there. A listed serial is
answered UNAUTHENTICATED, so the client gets no token (its NVFlare client exits with
``error:client_registration``), and the current holder of the name is never logged out. A client cannot
dodge the check by sending another certificate: NVFlare verifies the nonce signature with the very
certificate the guard read, and only the holder of that certificate's key can sign it.

The list is re-read when its file changes (a cluster updates the mounted ConfigMap in place), so a renewal
elsewhere in the federation never needs a server restart. An unreadable list refuses every registration
(fail closed) rather than admitting a revoked site.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import FLContextKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.workspace import Workspace
from nvflare.fuel.f3.cellnet.defs import IdentityChallengeKey, ReturnCode
from nvflare.fuel.f3.cellnet.utils import make_reply
from nvflare.fuel.f3.message import Message
from nvflare.private.defs import CellChannel, CellChannelTopic, CellMessageHeaderKeys

from flarekube_workloads.contract import LIVE_LOCAL_ENV, REFUSED_CERTS_FILE, REFUSED_CERTS_FORMAT

FORMAT = REFUSED_CERTS_FORMAT


def serial_of(cert_pem: bytes) -> str:
    """The first certificate's serial in the ledger's spelling: upper-case hex, as openssl prints it."""
    return format(x509.load_pem_x509_certificates(cert_pem)[0].serial_number, "X")


def read_refused(path: Path) -> dict[str, str]:
    """serial -> the participant it was issued to; raises ValueError/OSError when the file is unusable."""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("refused"), list):
        raise ValueError(f"{path.name}: not a format-{FORMAT} refused-certificate list")
    return {str(e["serial"]).upper(): str(e.get("participant", "?")) for e in doc["refused"]}


class CertGuard(FLComponent):
    def __init__(self, refused_file: str = REFUSED_CERTS_FILE) -> None:
        super().__init__()
        self.refused_file = refused_file
        self._path: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self._refused: dict[str, str] | None = {}
        self._lock = threading.Lock()

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type != EventType.SYSTEM_START:
            return
        path = Path(self.refused_file)
        live = os.environ.get(LIVE_LOCAL_ENV)
        if live and not path.is_absolute() and (Path(live) / path).is_file():
            path = Path(live) / path
        elif not path.is_absolute():
            workspace = fl_ctx.get_prop(FLContextKey.WORKSPACE_OBJECT)
            local = workspace.get_site_config_dir() if isinstance(workspace, Workspace) else "local"
            path = Path(local) / path
        self._path = path
        cell = fl_ctx.get_engine().get_cell()
        if cell is None:
            self.log_error(fl_ctx, "no server cell at SYSTEM_START: superseded certificates are NOT refused")
            return
        cell.add_incoming_request_filter(CellChannel.SERVER_MAIN, CellChannelTopic.Register, self.check)
        self.log_info(fl_ctx, f"refusing registrations by the certificate serials listed in {path}")

    def _current(self) -> dict[str, str] | None:
        """The refused list, re-read when the file's mtime or size changed; None when it cannot be read."""
        assert self._path is not None
        with self._lock:
            try:
                st = os.stat(self._path)
                stamp = (st.st_mtime_ns, st.st_size)
                if stamp != self._stamp:
                    self._refused, self._stamp = read_refused(self._path), stamp
            except FileNotFoundError:
                self._refused, self._stamp = {}, None  # nothing superseded yet
            except (OSError, ValueError, KeyError, TypeError) as e:
                self.logger.error(f"cannot read {self._path} ({type(e).__name__}: {e}): refusing every registration")
                self._refused, self._stamp = None, None
            return self._refused

    def check(self, message: Message, *args: Any, **kwargs: Any) -> Message | None:
        """The cellnet filter: None lets the registration through, a reply ends it."""
        name = message.get_header(CellMessageHeaderKeys.CLIENT_NAME, "?")
        refused = self._current()
        if refused is None:
            return make_reply(ReturnCode.UNAUTHENTICATED, error="the server cannot read its refused-certificate list")
        payload = message.payload
        cert = payload.get(IdentityChallengeKey.CERT) if isinstance(payload, dict) else None
        if not cert:
            return None  # NVFlare's own check refuses a secure registration without a certificate
        try:
            serial = serial_of(cert if isinstance(cert, bytes) else str(cert).encode())
        except ValueError:
            return None  # unparseable: NVFlare's own verification refuses it
        if serial in refused:
            self.logger.warning(
                f"refused registration of {name!r}: certificate serial {serial} (issued to {refused[serial]!r}) "
                "is superseded or revoked in the project's certificate ledger"
            )
            return make_reply(ReturnCode.UNAUTHENTICATED, error=f"certificate {serial} is superseded or revoked")
        return None
