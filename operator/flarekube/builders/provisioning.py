"""FLProject -> the inputs NVFlare's provisioner issues kits for. Pure: no NVFlare, no I/O.

The server's host name is its TLS identity and decides where it binds, so it is an argument:
`localhost` for `flarekube run`, the Service DNS name (or spec.server.host) in a cluster.

Admins: every project has the operator's own admin (`FLProject.operator_admin`, role OPERATOR_ROLE: submit
and follow its own jobs, nothing else), which submits every job. The human admins' kits are issued only
on the humans' own machine (`flarekube kits` / `flarekube run`); a cluster's inputs leave them out, so no
human's private key is ever stored in the cluster.
"""

from __future__ import annotations

from flarekube.api.project import FLProject
from flarekube.builders.sitelocal import OPERATOR_ROLE
from flarekube.provisioning.inputs import AdminIdentity, CertPolicy, ClientIdentity, ProvisioningInputs, ServerIdentity


def operator_identity(project: FLProject) -> AdminIdentity:
    # The server's org: fixed once kits are issued (a CEL rule), so the operator's kit never needs re-issuing.
    return AdminIdentity(email=project.operator_admin, org=project.spec.server.org, role=OPERATOR_ROLE)


def provisioning_inputs(
    project: FLProject, server_host: str, ports: tuple[int, int] | None = None, *, humans: bool
) -> ProvisioningInputs:
    """`humans`: also issue the spec's admins (True on a person's machine; False for a cluster)."""
    spec = project.spec
    fl_port, admin_port = ports if ports is not None else (spec.server.fl_port, spec.server.admin_port)
    people = tuple(AdminIdentity(email=a.email, org=a.org, role=a.role) for a in spec.admins) if humans else ()
    return ProvisioningInputs(
        project=project.project_name,
        server=ServerIdentity(name=server_host, org=spec.server.org, fl_port=fl_port, admin_port=admin_port),
        clients=tuple(ClientIdentity(name=s.name, org=s.org) for s in spec.sites),
        admins=(*people, operator_identity(project)),
        certs=CertPolicy(spec.certificates.validity_days, spec.certificates.renew_before_days),
    )
