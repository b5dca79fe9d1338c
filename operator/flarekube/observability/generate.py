"""Write the chart's dashboards and alert rules from their code: `make monitoring-generate`.

    python -m flarekube.observability.generate [CHART_DIR]

`tests/unit/test_observability.py` fails when the chart's copy differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flarekube.observability import alerts, dashboards

CHART = Path(__file__).resolve().parents[3] / "charts" / "flarekube"
RULE_TEMPLATE = Path("templates") / "prometheusrule.yaml"
DASHBOARDS = Path("dashboards")


def files() -> dict[Path, str]:
    """Every generated file, relative to the chart's folder."""
    out = {RULE_TEMPLATE: alerts.helm_rule_template()}
    for board in dashboards.BOARDS:
        out[DASHBOARDS / f"{board.uid}.json"] = dashboards.render(board)
    return out


def write(chart: Path = CHART) -> list[Path]:
    wanted = files()
    for stale in (chart / DASHBOARDS).glob("*.json"):
        if stale.relative_to(chart) not in wanted:
            stale.unlink()
    for rel, text in wanted.items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(text)
    return sorted(wanted)


def main(argv: list[str]) -> int:
    chart = Path(argv[0]) if argv else CHART
    for rel in write(chart):
        print(chart / rel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
