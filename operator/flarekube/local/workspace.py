"""The local workspace of one project: kits, ports, run folders and logs, all in a 0700 tree.

Default: $XDG_STATE_HOME/flarekube/<metadata.name> (~/.local/state/flarekube/<name>): keyed by the
FLProject's name, never by spec.projectName, so a renamed projectName meets the root CA it would
replace (see identity.py). The kit store
under `kits/` outlives runs (kits are never re-issued); `run/` is fresh for every run, and `ports.json`
holds the ports the last `kits`/`run` rendered the connection files for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flarekube.local import ports as portpick


def state_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flarekube"


def default_root(name: str) -> Path:
    """The workspace of the FLProject named `name` (its metadata.name)."""
    return state_dir() / name


class WorkspaceBusy(RuntimeError):
    """Another `flarekube run` holds this workspace."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def kits(self) -> Path:
        return self.root / "kits"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.run / "logs"

    @property
    def metrics(self) -> Path:
        return self.run / "metrics"

    @property
    def jobs(self) -> Path:
        return self.run / "jobs"

    def participant(self, name: str) -> Path:
        return self.run / "participants" / name

    def create(self) -> None:
        for path in (self.root, self.kits):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workspace for one run. Threat: a second `flarekube run` of the same project deleting
        the first one's run tree (and its processes' files) under it. An flock, so a killed run never
        leaves a stale lock; the file names the holder for the message."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise WorkspaceBusy(
                    f"another flarekube run (pid {holder}) is using {self.root}: wait for it, or stop it "
                    "(`flarekube stop`, Ctrl-C in its terminal), or give this run its own --workspace"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def fresh_run(self) -> None:
        """A clean run tree (old NVFlare workspaces and logs go; the kit store stays)."""
        if self.run.exists():
            shutil.rmtree(self.run)
        for path in (self.run, self.logs, self.metrics, self.jobs):
            path.mkdir(parents=True, mode=0o700)

    def ports(self, preferred: tuple[int, int]) -> tuple[int, int]:
        """The ports this run renders the connection files for, recorded for `running` (see choose_ports)."""
        chosen = self.choose_ports(preferred)
        self.save_ports(chosen, preferred)
        return chosen

    def choose_ports(self, preferred: tuple[int, int]) -> tuple[int, int]:
        """The spec's ports when free; else the ones last chosen for these same spec ports, when free (so
        a busy spec port does not move the server on every run); else free ones. Read-only.

        Ports are configuration, not identity (builders/connection.py): other ports than last time
        re-render startup/fed_*.json in the run copies and re-issue no kit."""
        last = self._last_choice(preferred)
        free = portpick.is_free
        if last is not None and not all(free(p) for p in set(preferred)) and all(free(p) for p in set(last)):
            return last
        return portpick.choose(preferred)

    def saved_ports(self) -> tuple[int, int] | None:
        record = self.root / "ports.json"
        if not record.is_file():
            return None
        saved = json.loads(record.read_text())
        return int(saved["fl"]), int(saved["admin"])

    def save_ports(self, chosen: tuple[int, int], preferred: tuple[int, int]) -> None:
        record = self.root / "ports.json"
        spec = {"fl": preferred[0], "admin": preferred[1]}
        record.write_text(json.dumps({"fl": chosen[0], "admin": chosen[1], "spec": spec}))
        record.chmod(0o600)

    def _last_choice(self, preferred: tuple[int, int]) -> tuple[int, int] | None:
        """The recorded ports, if they were chosen for `preferred` (a record from before has no spec)."""
        try:
            saved = json.loads((self.root / "ports.json").read_text())
            spec = (int(saved["spec"]["fl"]), int(saved["spec"]["admin"]))
            return (int(saved["fl"]), int(saved["admin"])) if spec == preferred else None
        except (OSError, ValueError, KeyError, TypeError):
            return None
