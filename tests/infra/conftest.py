"""infra/ is a Pulumi project, not an installed package: put it (and its flarekube_infra) on the path."""

from __future__ import annotations

import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))
