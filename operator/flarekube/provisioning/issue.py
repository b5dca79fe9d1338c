"""Issue kits with NVFlare's own provisioner, in a private temp dir, under a given (or a new) root CA.

NVFlare's CertBuilder signs with ``Project(serialized_root_cert=..., root_private_key=...)`` when given
one, so restoring the stored root there is all it takes for new kits to chain to the same root. The
Provisioner always needs the server in the project; its kit is dropped unless it was asked for.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from nvflare.lighter.constants import CtxKey, ParticipantType, PropKey
from nvflare.lighter.entity import Participant, Project
from nvflare.lighter.impl.cert import CertBuilder
from nvflare.lighter.impl.signature import SignatureBuilder
from nvflare.lighter.impl.static_file import StaticFileBuilder
from nvflare.lighter.impl.workspace import WorkspaceBuilder
from nvflare.lighter.provisioner import Provisioner
from nvflare.lighter.utils import generate_keys

from .inputs import CertPolicy, ProvisioningInputs
from .model import DEFAULT_ROOT_CA_VALID_DAYS, CAState, IssuedFor, Kit, wanted_records

log = logging.getLogger(__name__)


class ProvisioningError(RuntimeError):
    """NVFlare's provisioner reported an error; nothing was issued."""


@dataclass(frozen=True)
class Issued:
    ca: CAState
    kits: tuple[Kit, ...]


class _CtxLogger:
    """NVFlare's provisioner prints to stdout unless given a logger; route its chatter to debug logs.

    Its messages are paths and validity dates, never key material.
    """

    def info(self, msg: str) -> None:
        log.debug("nvflare provisioner: %s", msg)

    def debug(self, msg: str) -> None:
        log.debug("nvflare provisioner: %s", msg)

    def warning(self, msg: str) -> None:
        log.warning("nvflare provisioner: %s", msg)

    def error(self, msg: str) -> None:
        log.error("nvflare provisioner: %s", msg)


class ClockedCertBuilder(CertBuilder):
    """NVFlare's CertBuilder with the leaf lifetime and the clock flarekube chooses.

    NVFlare's own ``get_pri_key_cert`` fixes a leaf at 360 days from the real clock; this override is
    that method with ``spec.certificates.validityDays`` and an injectable ``now`` (tests, renewal
    windows). Everything else -- subject, issuer, SANs, key usage, the fresh RSA key, the root that
    signs -- is NVFlare's own ``_generate_cert``/``generate_keys``, so the kits stay NVFlare kits.
    """

    def __init__(self, root_valid_days: int, policy: CertPolicy, now: datetime.datetime) -> None:
        super().__init__(root_valid_days=root_valid_days)
        self.validity = datetime.timedelta(days=policy.validity_days)
        self.now = now

    def get_pri_key_cert(self, participant: Participant):  # type: ignore[no-untyped-def]
        pri_key, pub_key = generate_keys()
        role = participant.get_prop(PropKey.ROLE) if participant.type == ParticipantType.ADMIN else None
        root_not_after = self.root_cert.not_valid_after_utc
        if root_not_after <= self.now:
            raise ProvisioningError(
                f"cannot sign a certificate for {participant.name!r}: the root CA expired at {root_not_after}"
            )
        server = participant if participant.type == ParticipantType.SERVER else None
        cert = self._generate_cert(
            participant.subject, participant.org, self.issuer, self.pri_key, pub_key, role=role, server=server,
            not_valid_before=self.now, not_valid_after=min(self.now + self.validity, root_not_after),
        )  # fmt: skip
        return pri_key, cert


def issue_kits(
    inputs: ProvisioningInputs,
    ca: CAState | None,
    names: Collection[str],
    *,
    root_ca_valid_days: int = DEFAULT_ROOT_CA_VALID_DAYS,
    now: datetime.datetime | None = None,
) -> Issued:
    """Provision ``names`` (participant names from ``inputs``) and return their kits.

    With ``ca`` None a new root CA is created (and returned); otherwise every kit is signed by ``ca``.
    Leaf certificates start at ``now`` (default: the real clock) and live ``inputs.certs.validity_days``.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    wanted = wanted_records(inputs)
    unknown = set(names) - set(wanted)
    if unknown:
        raise ValueError(f"not participants of this project: {sorted(unknown)}")
    server_name = inputs.server.name
    chosen = [wanted[n] for n in wanted if n in names or n == server_name]

    with tempfile.TemporaryDirectory(prefix="flarekube-prov-") as tmp:  # mkdtemp: 0700
        # NVFlare prints (not logs) a warning for a role outside its four: the operator's own role is one.
        with contextlib.redirect_stdout(io.StringIO()) as said:
            project = _nvflare_project(inputs, ca, chosen)
        if said.getvalue().strip():
            log.debug("nvflare: %s", said.getvalue().strip())
        builders = [
            WorkspaceBuilder(),
            StaticFileBuilder(config_folder="config"),
            ClockedCertBuilder(root_ca_valid_days, inputs.certs, now),
            SignatureBuilder(),
        ]
        ctx = Provisioner(tmp, builders).provision(project, logger=_CtxLogger())
        if ctx.get(CtxKey.BUILD_ERROR) or not ctx.get_result_location():
            raise ProvisioningError("NVFlare provisioning failed: " + "; ".join(ctx.get_errors()))
        prod = Path(ctx.get_result_location())
        issued_ca = ca or _read_new_ca(inputs.project, Path(ctx.get_state_dir()))
        kits = tuple(_read_kit(prod / r.name, r) for r in chosen if r.name in names)

    for kit in kits:
        _check_signed_by(kit, issued_ca)
    return Issued(issued_ca, kits)


def _nvflare_project(inputs: ProvisioningInputs, ca: CAState | None, records: list[IssuedFor]) -> Project:
    root_cert, root_key = None, None
    if ca is not None:
        root_cert = ca.root_cert_pem
        root_key = serialization.load_pem_private_key(ca.root_key_pem, password=None)
    project = Project(
        inputs.project,
        "provisioned by flarekube",
        props={"api_version": 3},
        serialized_root_cert=root_cert,
        root_private_key=root_key,
    )
    s = inputs.server
    for r in records:
        if r.kind == "server":
            props = {PropKey.FED_LEARN_PORT: s.fl_port, PropKey.ADMIN_PORT: s.admin_port}
            project.add_participant(Participant(ParticipantType.SERVER, r.name, r.org, props))
        elif r.kind == "client":
            project.add_participant(Participant(ParticipantType.CLIENT, r.name, r.org))
        else:
            project.add_participant(Participant(ParticipantType.ADMIN, r.name, r.org, {PropKey.ROLE: r.role}))
    return project


def _read_new_ca(project: str, state_dir: Path) -> CAState:
    """CertBuilder persists the root it just created in state/cert.json (PEM strings)."""
    state = json.loads((state_dir / "cert.json").read_text())
    ca = CAState(project, state[CtxKey.ROOT_CERT].encode("ascii"), state[CtxKey.ROOT_PRI_KEY].encode("ascii"))
    ca.validate()
    return ca


def _read_kit(ws: Path, record: IssuedFor) -> Kit:
    files: dict[str, bytes] = {}
    executables: set[str] = set()
    dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(ws):
        rel_dir = Path(dirpath).relative_to(ws)
        dirs.update((rel_dir / d).as_posix() for d in dirnames)
        for f in filenames:
            path = Path(dirpath) / f
            rel = (rel_dir / f).as_posix()
            files[rel] = path.read_bytes()
            if path.stat().st_mode & 0o111:
                executables.add(rel)
    # local/ holds NVFlare's defaults only: the site's rules are rendered apart (builders/sitelocal.py).
    return Kit(record, files, frozenset(executables), frozenset(dirs))


def _check_signed_by(kit: Kit, ca: CAState) -> None:
    """Defence in depth: a kit leaves here only if it trusts our root and its cert was signed by it."""
    if kit.files.get("startup/rootCA.pem") != ca.root_cert_pem:
        raise ProvisioningError(f"kit {kit.name!r} does not carry the project's root certificate")
    try:
        kit.certificate().verify_directly_issued_by(ca.certificate())
    except (ValueError, TypeError, InvalidSignature) as e:
        raise ProvisioningError(f"kit {kit.name!r}: certificate is not signed by the project's root") from e
