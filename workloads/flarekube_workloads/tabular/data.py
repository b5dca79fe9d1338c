"""Load one site's CRC CSVs (no header; column 0 = 0/1 label, then float features) and standardise.

Standardisation statistics are fitted on the site's TRAIN rows only and applied to its test rows: a
site never sees another site's data, and its test rows must not leak into the scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SiteData:
    x_train: np.ndarray  # float32, standardised
    y_train: np.ndarray  # float32 in {0, 1}
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray  # per-feature statistics of the raw train rows
    std: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def _read_csv(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: not a numeric CSV without header ({exc})") from exc
    if table.shape[0] == 0 or table.shape[1] < 2:
        raise ValueError(f"{path}: expected rows of 'label,feature...', got shape {table.shape}")
    labels = table[:, 0]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError(f"{path}: column 0 must be a 0/1 label")
    return table[:, 1:], labels.astype(np.float32)


def load_site(data_dir: str | Path, train_file: str, test_file: str) -> SiteData:
    """Read ``data_dir/train_file`` and ``data_dir/test_file``; a missing one raises FileNotFoundError
    naming it."""
    base = Path(data_dir)
    x_train, y_train = _read_csv(base / train_file, "train")
    x_test, y_test = _read_csv(base / test_file, "test")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"{base / train_file} has {x_train.shape[1]} features but {base / test_file} has {x_test.shape[1]}"
        )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant feature must not divide by zero
    return SiteData(
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=y_train,
        x_test=((x_test - mean) / std).astype(np.float32),
        y_test=y_test,
        mean=mean,
        std=std,
    )
