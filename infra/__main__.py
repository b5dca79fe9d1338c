"""Entry point of `pulumi up` in infra/: validate the stack config, then build the components.

The whole program is `flarekube_infra.program.program(config)`, so the Automation API can run the same
thing inline without this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# flarekube's API models (the FLProject) live in operator/ of this repository.
_ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(_ROOT), str(_ROOT.parent / "operator")]

from flarekube_infra.program import main  # noqa: E402

main()
