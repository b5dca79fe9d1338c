"""FLProject -> the inputs NVFlare's provisioner issues kits for. Pure: no NVFlare, no I/O.

The server's host name is its TLS identity and decides where it binds, so it is an argument:
`localhost` for `flarekube run`, the Service DNS name (or spec.server.host) in a cluster.
"""

from __future__ import annotations

from flarekube.api.project import FLProject
from flarekube.provisioning.inputs import AdminIdentity, ClientIdentity, ProvisioningInputs, ServerIdentity


def provisioning_inputs(
    project: FLProject, server_host: str, ports: tuple[int, int] | None = None
) -> ProvisioningInputs:
    spec = project.spec
    fl_port, admin_port = ports if ports is not None else (spec.server.fl_port, spec.server.admin_port)
    return ProvisioningInputs(
        project=project.project_name,
        server=ServerIdentity(name=server_host, org=spec.server.org, fl_port=fl_port, admin_port=admin_port),
        clients=tuple(ClientIdentity(name=s.name, org=s.org) for s in spec.sites),
        admins=tuple(AdminIdentity(email=a.email, org=a.org, role=a.role) for a in spec.admins),
    )
