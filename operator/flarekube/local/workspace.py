"""The local workspace of one project: kits, ports, run folders and logs, all in a 0700 tree.

Default: $XDG_STATE_HOME/flarekube/<metadata.name> (~/.local/state/flarekube/<name>): keyed by the
FLProject's name, never by spec.projectName, so a renamed projectName meets the root CA it would
replace (see identity.py). The kit store
under `kits/` outlives runs (kits are never re-issued); `run/` is fresh for every run.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from flarekube.local import ports as portpick


def state_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flarekube"


def default_root(name: str) -> Path:
    """The workspace of the FLProject named `name` (its metadata.name)."""
    return state_dir() / name


class PortInUse(RuntimeError):
    pass


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

    def fresh_run(self) -> None:
        """A clean run tree (old NVFlare workspaces and logs go; the kit store stays)."""
        if self.run.exists():
            shutil.rmtree(self.run)
        for path in (self.run, self.logs, self.metrics, self.jobs):
            path.mkdir(parents=True, mode=0o700)

    def ports(self, preferred: tuple[int, int]) -> tuple[int, int]:
        """The ports the kits were issued for; chosen (spec's if free) on first use, then kept."""
        record = self.root / "ports.json"
        if record.is_file():
            saved = json.loads(record.read_text())
            chosen = (int(saved["fl"]), int(saved["admin"]))
            busy = [p for p in set(chosen) if not portpick.is_free(p)]
            if busy:
                raise PortInUse(
                    f"port {busy[0]} on 127.0.0.1 is in use, and this project's kits were issued for "
                    f"ports {chosen[0]}/{chosen[1]}. Stop whatever holds it (`ss -ltnp 'sport = :{busy[0]}'`), "
                    "or run again with --reissue-kits to move the server to free ports (same root CA)."
                )
            return chosen
        chosen = portpick.choose(preferred)
        self.save_ports(chosen)
        return chosen

    def saved_ports(self) -> tuple[int, int] | None:
        record = self.root / "ports.json"
        if not record.is_file():
            return None
        saved = json.loads(record.read_text())
        return int(saved["fl"]), int(saved["admin"])

    def save_ports(self, chosen: tuple[int, int]) -> None:
        record = self.root / "ports.json"
        record.write_text(json.dumps({"fl": chosen[0], "admin": chosen[1]}))
        record.chmod(0o600)
