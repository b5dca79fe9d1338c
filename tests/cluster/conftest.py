"""Fixtures of the cluster tests: they live in tests/clusterlib.py so that tests/e2e shares them."""

import sys
from pathlib import Path

# tests/ is not a package; clusterlib sits there so that every suite can import it the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterlib import cluster, kube, namespace  # noqa: F401  (pytest finds fixtures by name)
