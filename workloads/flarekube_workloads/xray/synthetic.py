"""Write small ChestMNIST-layout `.npz` files with learnable synthetic signal, one folder per site.

Nothing is downloaded at run time (and no data hub is reachable from many hospital networks), so the
chest X-ray example and its tests run on these files; put the real `chestmnist.npz` (MedMNIST) in a
site's folder instead to train on real images — the layout is identical.

    python -m flarekube_workloads.xray.synthetic --out examples/data/chestmnist --sites 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LABELS = 14


def make_split(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images; each positive label brightens its own horizontal band, so a CNN can learn it."""
    labels = (rng.random((n, LABELS)) < 0.2).astype(np.uint8)
    images = rng.normal(90, 25, (n, size, size))
    band = max(1, size // LABELS)
    for label in range(LABELS):
        rows = slice(label * band, (label + 1) * band)
        images[labels[:, label] == 1, rows, :] += 60
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_site(folder: Path, seed: int, size: int = 28, n_train: int = 256, n_eval: int = 64) -> Path:
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_split(rng, n, size)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chestmnist.npz"
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic ChestMNIST-layout data, one folder per site.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--size", type=int, default=28)
    args = parser.parse_args()
    for i in range(1, args.sites + 1):
        print(write_site(args.out / f"site-{i}", seed=i, size=args.size))


if __name__ == "__main__":
    main()
