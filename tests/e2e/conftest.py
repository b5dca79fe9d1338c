"""Fixtures of the operator's e2e tests (they live in e2elib so that test modules can import helpers)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2elib import cluster, fed_ns, kube, operator  # noqa: F401  (pytest finds fixtures by name)
