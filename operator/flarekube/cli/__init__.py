"""The `flarekube` command: run a federation on this machine, validate specs, and more.

`app.py` holds the Typer app and what every command shares; each module below adds its commands.
"""

import flarekube.cli.site  # noqa: F401  (`flarekube site revoke`; its own module, registered here)
from flarekube.cli import commands, detach, doctor, explain, kits, plan, run, scaffold, submit  # noqa: F401  (each registers its commands)
from flarekube.cli.app import Exit, app

__all__ = ["Exit", "app", "main"]


def main() -> None:  # pragma: no cover - console script entry
    app(prog_name="flarekube")
