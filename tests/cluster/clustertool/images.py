"""The cluster's own images, assembled from local binaries (no registry): pause, CoreDNS and `testbox`
(Debian's busybox-static, for the tests' pods). Archives are cached by content; import is skipped when
containerd already has the image.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from . import config as c
from .oci import Entry, ImageConfig, build_from_entries, full_name

HERE = Path(__file__).resolve().parent
# The applets the tests use; busybox picks the applet from argv[0].
APPLETS = ("sh", "cat", "ls", "sleep", "wget", "nc", "nslookup", "httpd", "id", "echo", "touch", "mkdir",
           "env", "test", "true", "false", "hostname", "ps", "grep", "date", "df", "rm", "tee", "timeout")
NOBODY = "65534"


def _busybox() -> Path:
    path = Path("/bin/busybox")
    if not path.exists():
        raise RuntimeError("missing /bin/busybox: apt-get install busybox-static")
    return path


def _pause_binary(out: Path) -> Path:
    src = HERE / "pause.c"
    key = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    binary = out / f"pause-{key}"
    if not binary.exists():
        if shutil.which("gcc") is None:
            raise RuntimeError("missing gcc (for the pause image): apt-get install gcc libc6-dev")
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-Os", "-s", "-static", "-o", str(binary), str(src)], check=True)
    return binary


def _key(*files: Path) -> str:
    h = hashlib.sha256((HERE / "oci.py").read_bytes() + (HERE / "images.py").read_bytes())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def pause_archive(p: c.Paths) -> Path:
    binary = _pause_binary(p.images)
    archive = p.images / f"pause-{_key(binary)}.ocitar"
    if not archive.exists():
        build_from_entries(c.PAUSE_IMAGE, [Entry("pause", source=binary, mode=0o755)],
                           ImageConfig(entrypoint=["/pause"], user="65535"), archive)
    return archive


def coredns_archive(p: c.Paths) -> Path:
    if not p.coredns_bin.exists():
        raise RuntimeError(f"missing {p.coredns_bin}: run `make cluster-build`")
    archive = p.images / f"coredns-{c.COREDNS_VERSION}-{_key(p.coredns_bin)}.ocitar"
    if not archive.exists():
        build_from_entries(c.COREDNS_IMAGE, [Entry("coredns", source=p.coredns_bin, mode=0o755)],
                           ImageConfig(entrypoint=["/coredns"], user=NOBODY), archive)
    return archive


def testbox_archive(p: c.Paths) -> Path:
    bb = _busybox()
    archive = p.images / f"testbox-{_key(bb)}.ocitar"
    if not archive.exists():
        entries = [Entry("bin/busybox", source=bb, mode=0o755)]
        entries += [Entry(f"bin/{a}", symlink="busybox") for a in APPLETS]
        entries += [
            Entry("etc/passwd",
                  data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"),
            Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
            Entry("tmp", is_dir=True, mode=0o1777),  # writable by the non-root users the tests run as
        ]
        build_from_entries(c.TESTBOX_IMAGE, entries, ImageConfig(entrypoint=[], cmd=["/bin/sh"],
                                                                 env=["PATH=/bin"]), archive)
    return archive


def ctr(p: c.Paths, *args: str) -> str:
    argv = ["ctr", "--address", str(p.containerd_sock), "-n", c.CONTAINERD_NAMESPACE, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def present(p: c.Paths) -> set[str]:
    return set(ctr(p, "images", "ls", "-q").split())


def import_archive(p: c.Paths, ref: str, archive: Path, name: str | None = None) -> None:
    """Imports into containerd's k8s.io namespace, where the kubelet's CRI looks for images. A stamp
    (kept with containerd's image store) names the archive last imported under `ref` (`name`, when the
    file is a thin stand-in for it): a rebuilt image with the same tag is imported again, an unchanged
    one is not."""
    name = name or archive.name
    if imported(p, ref, name):
        return
    ctr(p, "images", "import", "--snapshotter", "overlayfs", str(archive))
    if full_name(ref) not in present(p):
        raise RuntimeError(f"importing {archive} did not create {full_name(ref)}")
    stamp = _stamp(p, ref)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(name)


def blobs(p: c.Paths) -> set[str]:
    """Digests (hex) already in containerd's content store."""
    return {line.split(":", 1)[1] for line in ctr(p, "content", "ls", "-q").split() if ":" in line}


def _stamp(p: c.Paths, ref: str) -> Path:
    return p.state / "imported" / full_name(ref).replace("/", "_")


def imported(p: c.Paths, ref: str, archive_name: str) -> bool:
    """Whether containerd has `ref` from exactly this archive (its name carries the inputs' hash)."""
    stamp = _stamp(p, ref)
    return stamp.exists() and stamp.read_text() == archive_name and full_name(ref) in present(p)


def ensure_cluster_images(p: c.Paths) -> None:
    for ref, build in ((c.PAUSE_IMAGE, pause_archive), (c.COREDNS_IMAGE, coredns_archive),
                       (c.TESTBOX_IMAGE, testbox_archive)):
        import_archive(p, ref, build(p))
