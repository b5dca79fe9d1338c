"""Harder, reproducible variants of the CRC task: defined here and nowhere else.

On the CRC data as shipped every algorithm reaches a test AUC of about 0.99, so no result on it can tell
algorithms apart. A variant derives, from the shipped files, a folder of the same layout (`site-N.csv`,
`site-N_test.csv`, no header, label first) in which each site:
- keeps a stated fraction of its training rows (test rows are not thinned);
- keeps only a stated subset of the genes (the same columns at every site);
- has its own label skew: a stated share of label-1 rows, in its training AND its test rows (the site's
  population differs from the others', which is what a personalised model is for).
Every choice is seeded, so one variant name always yields the same bytes; `variant.json` in the folder
says what was kept. A generator rather than an FLJob field: the sites train on files anyone can inspect
and copy to a PVC, the same YAML (sites' data pointing at the folder) runs locally and on a cluster, and
the FLJob API grows no field only one workload understands.

    python -m flarekube_workloads.tabular.variants crc-hard --source examples/data/crc --out data/crc-hard
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    train_fraction: float  # share of each site's training rows kept
    features: tuple[int, ...]  # 0-based gene columns kept (after the label), in this order
    positive_share: dict[str, float]  # site -> share of label-1 rows in its train and test rows
    seed: int


VARIANTS = {
    "crc-hard": Variant(
        name="crc-hard",
        description=(
            "30% of each site's training rows; 12 middling genes (each alone separates the label with an AUC "
            "of 0.63-0.71 on site-2's training rows; the best genes reach 0.96); label-1 share 80% / 20% / "
            "65% / 35% at sites 1-4"
        ),
        train_fraction=0.3,
        features=(53, 51, 49, 38, 58, 26, 50, 34, 6, 32, 55, 33),
        positive_share={"site-1": 0.8, "site-2": 0.2, "site-3": 0.65, "site-4": 0.35},
        seed=16,
    ),
}


def skew(table: np.ndarray, share: float, rng: np.random.Generator, fraction: float = 1.0) -> np.ndarray:
    """`fraction` of the largest subset of `table`'s rows (label in column 0) whose label-1 share is `share`
    (both classes thinned alike, so the share holds)."""
    pos, neg = np.flatnonzero(table[:, 0] == 1), np.flatnonzero(table[:, 0] == 0)
    n = fraction * min(len(pos) / share, len(neg) / (1 - share))  # rows the scarcer class allows
    n_pos, n_neg = max(1, round(n * share)), max(1, round(n * (1 - share)))
    keep = np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)])
    return table[np.sort(keep)]


def write_variant(name: str, source: Path, dest: Path) -> dict[str, dict[str, int]]:
    """Write variant `name` of the CRC folder `source` into `dest`; returns {site: {train, test, ...}} row
    counts (also in dest/variant.json)."""
    v = VARIANTS[name]
    dest.mkdir(parents=True, exist_ok=True)
    columns = [0, *(1 + f for f in v.features)]
    rows: dict[str, dict[str, int]] = {}
    for i, (site, share) in enumerate(sorted(v.positive_share.items())):
        train_file, test_file = source / f"{site}.csv", source / f"{site}_test.csv"
        if not train_file.is_file():
            continue  # a source with fewer sites: the variant covers the sites it has
        rng = np.random.default_rng([v.seed, i])
        train = np.loadtxt(train_file, delimiter=",", ndmin=2)[:, columns]
        test = np.loadtxt(test_file, delimiter=",", ndmin=2)[:, columns]
        train = skew(train, share, rng, v.train_fraction)
        test = skew(test, share, rng)
        for table, file in ((train, dest / train_file.name), (test, dest / test_file.name)):
            np.savetxt(file, table, delimiter=",", fmt=["%d", *["%.9g"] * len(v.features)])
        rows[site] = {"train": len(train), "test": len(test), "train_label1": int(train[:, 0].sum()),
                      "test_label1": int(test[:, 0].sum())}  # fmt: skip
    (dest / "variant.json").write_text(json.dumps({**asdict(v), "rows": rows}, indent=2) + "\n")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("--source", type=Path, required=True, help="the CRC folder (examples/data/crc)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    for site, counts in write_variant(a.variant, a.source, a.out).items():
        print(site, counts)


if __name__ == "__main__":
    main()
