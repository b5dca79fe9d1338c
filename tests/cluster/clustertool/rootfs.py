"""`make images`: the flarekube runtime and operator images without a registry or a Docker engine.

Debian bookworm minbase by debootstrap, then python3 + a venv installed inside it (chroot, pip from PyPI)
from the same requirement files as the user-facing Dockerfiles in images/, then flarekube from this
checkout. The result becomes an OCI archive (oci.py) imported into the cluster's containerd.

Everything is cached under $CACHE/images keyed by its inputs: the base by its package list, each image
by the base, its requirement files and the flarekube sources, so an unchanged tree re-imports nothing.
Usage: python -m clustertool.rootfs runtime|operator|all [--no-import]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import config as c
from .images import blobs, import_archive, imported
from .oci import ImageConfig, layer_digest, prune, write_archive, write_layer_from_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini")
UID = 10001
VENV = "/opt/flarekube"


@dataclass(frozen=True)
class Spec:
    name: str
    ref: str
    requirements: str
    config: ImageConfig


def specs() -> dict[str, Spec]:
    env = [f"PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED=1", "HOME=/home/flare"]
    return {
        "runtime": Spec("runtime", f"flarekube/runtime:{c.IMAGE_TAG}", "requirements-runtime.txt",
                        ImageConfig(entrypoint=["/usr/bin/tini", "--"], cmd=["flarekube", "--help"],
                                    user=str(UID), env=env, workdir="/home/flare")),
        "operator": Spec("operator", f"flarekube/operator:{c.IMAGE_TAG}", "requirements-operator.txt",
                         ImageConfig(entrypoint=["flarekube", "operator"], user=str(UID), env=env,
                                     workdir="/home/flare")),
    }


def say(msg: str) -> None:
    print(f"[images] {msg}", flush=True)


def _hash(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def source_files(repo: Path) -> list[Path]:
    """What `pip install .` reads: pyproject, README and the two package trees (as git tracks them,
    plus files not yet added, so a working tree is imaged as it is)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "pyproject.toml",
                          "README.md", "operator", "workloads"], cwd=repo, capture_output=True, text=True,
                         check=True).stdout.split()
    return sorted(repo / f for f in out if (repo / f).is_file())


def base_rootfs(p: c.Paths) -> tuple[Path, str]:
    key = _hash(SUITE.encode(), " ".join(BASE_PACKAGES).encode())
    root = p.images / "rootfs" / f"{SUITE}-{key}"
    if (root / ".complete").exists():
        return root, key
    if shutil.which("debootstrap") is None:
        raise RuntimeError("missing debootstrap: apt-get install debootstrap")
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    say(f"debootstrap {SUITE} minbase + {' '.join(BASE_PACKAGES)} ...")
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
                    str(tmp), MIRROR], check=True, stdout=subprocess.DEVNULL)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (tmp / junk).glob("*"):
            if f.is_file():
                f.unlink()
    (tmp / ".complete").touch()
    tmp.rename(root)
    return root, key


class Chroot:
    """proc, dev and the host's CA bundle mounted for the time of a build, always unmounted after."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts: list[Path] = []

    def __enter__(self) -> Chroot:
        ca = self.root / "tmp" / "host-ca.crt"
        ca.parent.mkdir(parents=True, exist_ok=True)
        ca.touch()
        # The registry's TLS may be re-signed on this network: pip must trust what the host trusts,
        # without that bundle ending up in the image.
        # debootstrap made /dev's few nodes (null, urandom, ...); binding the host's /dev is avoided so
        # that no cleanup path can ever reach the host's devices.
        for src, dst, opts in (("proc", "proc", ["-t", "proc"]),
                               ("/etc/ssl/certs/ca-certificates.crt", "tmp/host-ca.crt", ["--bind"])):
            target = self.root / dst
            subprocess.run(["mount", *opts, src, str(target)], check=True)
            self.mounts.append(target)
        shutil.copy("/etc/resolv.conf", self.root / "etc" / "resolv.conf")
        return self

    def run(self, *argv: str) -> None:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "PIP_CERT": "/tmp/host-ca.crt",
               "PIP_DEFAULT_TIMEOUT": "180", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "PIP_NO_CACHE_DIR": "1", "LANG": "C.UTF-8"}
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        subprocess.run([chroot, str(self.root), *argv], check=True, env=env)

    def __exit__(self, *exc: object) -> None:
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
        (self.root / "tmp" / "host-ca.crt").unlink(missing_ok=True)


def _safe_rmtree(path: Path) -> None:
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    if any(f" {path}/" in line or f" {path} " in line for line in mounts):
        raise RuntimeError(f"{path} still has mounts; unmount them before removing it")
    shutil.rmtree(path, ignore_errors=True)


def deps_stage(p: c.Paths, spec: Spec) -> tuple[Path, Path, str]:
    """Base + venv with the requirement file's packages: the big, rarely changing bottom layer. Its
    root filesystem stays cached too, because the app stage runs pip inside it."""
    base, base_key = base_rootfs(p)
    reqs = sorted((p.clone / "images").glob("requirements-*.txt"))
    key = _hash(base_key.encode(), spec.requirements.encode(), *(f.read_bytes() for f in reqs))
    root = p.images / "rootfs" / f"{spec.name}-deps-{key}"
    layer = p.images / "layers" / f"{spec.name}-deps-{key}.tar"
    if (root / ".complete").exists() and layer.exists():
        return root, layer, key
    for old in (p.images / "rootfs").glob(f"{spec.name}-deps-*"):
        _safe_rmtree(old)
    say(f"{spec.ref}: venv + pip install -r images/{spec.requirements} (from PyPI; minutes)")
    subprocess.run(["cp", "-a", "--reflink=auto", f"{base}/.", str(root)], check=True)
    (root / ".complete").unlink(missing_ok=True)
    for f in reqs:
        shutil.copy(f, root / "tmp" / f.name)
    with Chroot(root) as ch:
        ch.run("/usr/bin/python3", "-m", "venv", VENV)
        ch.run(f"{VENV}/bin/pip", "install", "-q", "-r", f"/tmp/{spec.requirements}")
        ch.run(f"{VENV}/bin/python", "-c", "import nvflare")
    for f in reqs:
        (root / "tmp" / f.name).unlink()
    shutil.rmtree(root / "root" / ".cache", ignore_errors=True)
    with open(root / "etc" / "passwd", "a") as fh:
        fh.write(f"flare:x:{UID}:{UID}::/home/flare:/bin/sh\n")
    with open(root / "etc" / "group", "a") as fh:
        fh.write(f"flare:x:{UID}:\n")
    home = root / "home" / "flare"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, UID, UID)
    layer.parent.mkdir(parents=True, exist_ok=True)
    with open(layer.with_suffix(".part"), "wb") as fh:
        write_layer_from_dir(root, fh, exclude={".complete"})
    layer.with_suffix(".part").rename(layer)
    prune(layer)
    (root / ".complete").touch()
    return root, layer, key


def app_stage(p: c.Paths, spec: Spec, deps_root: Path, deps_key: str) -> tuple[Path, str]:
    """flarekube from this checkout, installed by pip inside the deps rootfs with --root, so that the
    layer holds exactly the files it adds (seconds to rebuild when only the code changed)."""
    repo = p.clone
    srcs = source_files(repo)
    key = _hash(deps_key.encode(), *(str(f.relative_to(repo)).encode() for f in srcs),
                *(f.read_bytes() for f in srcs))
    layer = p.images / "layers" / f"{spec.name}-app-{key}.tar"
    if layer.exists():
        return layer, key
    src, out = deps_root / "tmp" / "src", deps_root / "tmp" / "approot"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    try:
        for f in srcs:
            (src / f.relative_to(repo)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, src / f.relative_to(repo))
        say(f"{spec.ref}: pip install flarekube from this checkout")
        with Chroot(deps_root) as ch:
            ch.run(f"{VENV}/bin/pip", "install", "-q", "--no-deps", "--no-compile", "--no-warn-script-location",
                   "--root", "/tmp/approot",
                   "/tmp/src")
        with open(layer.with_suffix(".part"), "wb") as fh:
            write_layer_from_dir(out, fh)
        layer.with_suffix(".part").rename(layer)
        prune(layer)
    finally:
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return layer, key


def build(p: c.Paths, spec: Spec, for_import: bool) -> tuple[Path, str] | None:
    """(archive to use, the full archive's name), or None when containerd already has this very build.
    For an import, the big dependency layer is left out of the archive when containerd already holds
    it: a code change then costs seconds instead of rewriting and re-reading gigabytes."""
    deps_root, deps_layer, deps_key = deps_stage(p, spec)
    app_layer, app_key = app_stage(p, spec, deps_root, deps_key)
    archive = p.images / f"{spec.name}-{_hash(app_key.encode(), repr(spec.config).encode())}.ocitar"
    if for_import and imported(p, spec.ref, archive.name):
        say(f"{spec.ref}: up to date in containerd")
        return None
    if archive.exists():
        say(f"{spec.ref}: cached {archive}")
        return archive, archive.name
    if for_import:
        have = blobs(p)
        omit = {layer_digest(deps_layer)} & have
        if omit:
            thin = archive.with_name(archive.name.replace(".ocitar", ".thin.tar"))
            say(f"{spec.ref}: writing {thin} (dependency layer already in containerd)")
            write_archive(spec.ref, [deps_layer, app_layer], spec.config, thin, omit=omit)
            return thin, archive.name
    say(f"{spec.ref}: writing {archive}")
    write_archive(spec.ref, [deps_layer, app_layer], spec.config, archive)
    return archive, archive.name


def main(argv: list[str]) -> int:
    p = c.default_paths()
    names = [n for n in argv if not n.startswith("-")] or ["all"]
    chosen = list(specs()) if names == ["all"] else names
    for_import = "--no-import" not in argv
    for name in chosen:
        spec = specs()[name]
        built = build(p, spec, for_import)
        if built is None or not for_import:
            continue
        archive, full = built
        import_archive(p, spec.ref, archive, name=full)
        say(f"{spec.ref} imported into containerd ({c.CONTAINERD_NAMESPACE})")
        if archive.name != full or archive.stat().st_size > 1 << 30:
            # A thin archive is useless later; a huge one is rewritten from the cached layers in about a
            # minute if ever needed (`--no-import` writes and keeps it, e.g. for `kind load image-archive`).
            archive.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
