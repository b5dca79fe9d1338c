"""Entry point: `python -m clustertool up|down|status|preflight` (from tests/cluster)."""

import sys

from .cluster import main

sys.exit(main(sys.argv[1:]))
