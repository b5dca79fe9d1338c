"""A user's job folder as a ConfigMap (`spec.workload.jobFolder.configMap`), and back. Pure.

A ConfigMap's keys cannot hold "/", so the folder travels as ONE deterministic tar.gz under `binaryData`
(sorted entries, no owners, no times: the same folder gives the same bytes, so re-submitting an unchanged
folder changes nothing). The API server stores at most 1 MiB per object; the packed folder is capped below
that, with room for the object's own metadata. Unpacking refuses anything but plain files and folders
inside the destination (no links, no absolute paths, no "..").
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from flarekube import naming
from flarekube.builders.jobcheck import JobFolderError, read_job_folder

ARCHIVE_KEY = "job.tar.gz"
MAX_PACKED_BYTES = 900 * 1024  # the API server's 1 MiB per object, less metadata and base64's growth margin
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # a gzip bomb in a ConfigMap must not fill the operator's disk
SKIPPED = {"__pycache__", ".git", ".ipynb_checkpoints"}


def pack_job_folder(folder: Path) -> bytes:
    """The folder as a deterministic tar.gz; JobFolderError when it is no NVFlare job or too large."""
    _, problems = read_job_folder(folder)
    if problems:
        raise JobFolderError("; ".join(map(str, problems)))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if SKIPPED & set(rel.parts) or path.is_symlink():
                continue
            info = tarfile.TarInfo(str(PurePosixPath(*rel.parts)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif path.is_file():
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    if len(packed) > MAX_PACKED_BYTES:
        raise JobFolderError(
            f"{folder} packs to {len(packed) // 1024} KiB, more than a ConfigMap holds "
            f"({MAX_PACKED_BYTES // 1024} KiB): keep data and models out of the job folder (sites read their "
            "data from spec.sites[].data), or install the job's code in the runtime image"
        )
    return packed


def unpack_job_folder(packed: bytes, dest: Path) -> Path:
    """Unpack into dest (which must not hold anything else); returns dest. JobFolderError on anything odd."""
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            for member in tar:
                rel = PurePosixPath(member.name)
                if rel.is_absolute() or ".." in rel.parts or not (member.isfile() or member.isdir()):
                    raise JobFolderError(f"the packed job folder holds {member.name!r}: only plain files "
                                         "and folders inside the job are allowed")  # fmt: skip
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise JobFolderError(f"the packed job folder unpacks to more than {MAX_UNPACKED_BYTES >> 20} MiB")
                source = tar.extractfile(member)
                assert source is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise JobFolderError(f"the packed job folder cannot be read: {err}") from None
    return dest


def job_rounds(folder: Path) -> int | None:
    """The rounds the job's server workflow runs (its `num_rounds`), when it names them."""
    parsed, _ = read_job_folder(folder)
    for app in parsed.apps_of("server") if parsed is not None else ():
        for workflow in (app.server or {}).get("workflows", []):
            rounds = (workflow.get("args") or {}).get("num_rounds") if isinstance(workflow, dict) else None
            if isinstance(rounds, int) and rounds >= 1:
                return rounds
    return None


def job_folder_configmap(name: str, namespace: str, project: str, packed: bytes) -> dict[str, Any]:
    import base64

    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": naming.project_labels(project) | {naming.LABEL_COMPONENT: JOB_FOLDER_COMPONENT}},
        "binaryData": {ARCHIVE_KEY: base64.b64encode(packed).decode()},
    }  # fmt: skip


JOB_FOLDER_COMPONENT = "job-folder"


def packed_of(configmap: dict[str, Any]) -> bytes:
    """The archive a job-folder ConfigMap holds; JobFolderError when it holds none."""
    import base64

    data = (configmap.get("binaryData") or {}).get(ARCHIVE_KEY)
    if not isinstance(data, str):
        name = (configmap.get("metadata") or {}).get("name")
        raise JobFolderError(f"ConfigMap {name} has no binaryData.{ARCHIVE_KEY} (pack it with flarekube submit)")
    return base64.b64decode(data)


def fljob_for_folder(name: str, namespace: str, project: str, configmap: str, rounds: int,
                     min_sites: int = 1) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"projectRef": project, "rounds": rounds, "minSites": min_sites,
                 "workload": {"kind": "jobFolder", "jobFolder": {"configMap": configmap}}},
    }  # fmt: skip
