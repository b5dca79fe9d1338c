"""Which federation a local workspace belongs to, and the guard that no path mints a second root CA for it.

The default workspace is keyed by `metadata.name`, the federation's identity (as on a cluster, where the
FLProject object owns its CA Secret). `spec.projectName` names the root CA, so it is recorded in the
workspace (`federation.json`) with the root's fingerprint. Keying by projectName (as before) meant a
renamed projectName landed in a fresh folder and silently got a NEW root CA; now the rename meets the kit
store it was issued from, and every route to a new root is refused with the planner's own explanation
unless `--new-root-ca` is given.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from flarekube.api.project import FLProject
from flarekube.local.workspace import Workspace, default_root, state_dir
from flarekube.provisioning import new_root_message

RECORD = "federation.json"


@dataclass(frozen=True)
class Identity:
    name: str  # metadata.name
    project_name: str  # the root CA's project
    root_ca: str | None  # SHA-256 of the root certificate


def read_identity(root: Path) -> Identity | None:
    """The recorded identity; None when there is none or it cannot be read (never guessed)."""
    try:
        data = json.loads((root / RECORD).read_text())
        return Identity(str(data["name"]), str(data["projectName"]), data.get("rootCA"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_identity(ws: Workspace, identity: Identity) -> None:
    record = ws.root / RECORD
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": identity.name, "projectName": identity.project_name,
                               "rootCA": identity.root_ca}, indent=2) + "\n")  # fmt: skip
    tmp.chmod(0o600)
    tmp.replace(record)


def issued_kits(root: Path) -> list[str]:
    kits = root / "kits" / "kits"
    with contextlib.suppress(OSError):
        return sorted(p.name for p in kits.iterdir() if p.is_dir())
    return []


def _has_root_ca(root: Path) -> bool:
    return (root / "kits" / "ca").is_dir()


def new_root_reasons(project: FLProject, ws: Workspace) -> tuple[list[str], list[str]]:
    """Why running `project` in `ws` would need a new root CA the kit store cannot see by itself.

    Returns (reasons, the participants whose kits would stop working). Read-only: `plan` calls it too.
    The kit planner already refuses a rename it can see (the stored CA names its project); this covers
    what it cannot: a recorded root that was deleted with every kit, a renamed metadata.name next to
    the federation's own workspace, and a workspace left at the old projectName-keyed path.
    """
    want, name = project.project_name, project.metadata.name
    record = read_identity(ws.root)
    if record is not None:
        if record.project_name != want:
            return ([f"the project was renamed from {record.project_name!r} to {want!r}; "
                     "the root CA is named after the project"], issued_kits(ws.root))  # fmt: skip
        if record.root_ca and not _has_root_ca(ws.root) and not issued_kits(ws.root):
            return ([f"the root CA issued for this federation (sha256 {record.root_ca[:16]}…) is gone "
                     f"from {ws.kits}"], [])  # fmt: skip
        return [], []
    if _has_root_ca(ws.root) or issued_kits(ws.root) or ws.root.parent != state_dir():
        return [], []  # the planner reads the stored CA; only the default layout has neighbours to ask
    legacy = default_root(want)
    if legacy != ws.root and read_identity(legacy) is None and _has_root_ca(legacy):
        return ([f"the kits of project {want!r} are in {legacy} (from a flarekube that keyed workspaces by "
                 f"projectName); move that folder to {ws.root} to keep its root CA"], issued_kits(legacy))  # fmt: skip
    with contextlib.suppress(OSError):
        for other in sorted(state_dir().iterdir()):
            seen = read_identity(other)
            if seen is not None and seen.project_name == want and seen.name != name and _has_root_ca(other):
                return ([f"{other} (FLProject {seen.name!r}) already holds the root CA of project {want!r}; "
                         f"renaming metadata.name from {seen.name!r} to {name!r} would mint a second root CA "
                         "for it (rename it back to keep it)"], issued_kits(other))  # fmt: skip
    return [], []


def root_ca_refusal(project: FLProject, ws: Workspace, *, new_root_ca: bool) -> str | None:
    """The refusal text (the kit planner's own wording), or None when nothing here needs a new root."""
    if new_root_ca:
        return None
    reasons, affected = new_root_reasons(project, ws)
    return new_root_message(reasons, affected) if reasons else None
