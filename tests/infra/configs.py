"""Stack configs the tests start from (the README's examples, as dicts)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"


def stack_file(name: str) -> dict[str, Any]:
    """`infra/Pulumi.<name>.yaml` without the `flarekube-infra:` prefixes."""
    raw = yaml.safe_load((INFRA / f"Pulumi.{name}.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items()}


def eks(**changes: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(stack_file("eks"))
    for path, value in changes.items():
        node = cfg
        *parents, last = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg
