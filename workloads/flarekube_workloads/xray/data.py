"""Chest X-ray loaders: MedMNIST ChestMNIST ``.npz`` and an NIH ChestX-ray14 folder. Nothing is downloaded.

Both return :class:`XrayData`: uint8 grayscale images ``N x H x W`` (kept as uint8 so a site's images
take 1 byte per pixel in memory; scaling happens per batch) and float32 multi-hot labels ``N x 14``.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# NIH ChestX-ray14 label order; ChestMNIST uses the same order for its 14 columns.
NIH_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip
NO_FINDING = "No Finding"
NPZ_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class XrayData:
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    label_names: tuple[str, ...] = NIH_LABELS

    @property
    def num_classes(self) -> int:
        return int(self.train_labels.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[1])


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 ``N x H x W`` stack to ``N x size x size`` with Pillow (bilinear)."""
    if images.shape[1:] == (size, size):
        return images
    from PIL import Image

    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
    return out


def _as_gray_uint8(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        # MedMNIST RGB variants are N x H x W x 3; this CNN is grayscale
        images = images.mean(axis=-1) if images.shape[-1] == 3 else images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"{where}: expected images N x H x W, got shape {images.shape}")
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    return images


def _find_npz(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"ChestMNIST .npz not found: {path}")
    candidates = sorted(path.glob("chestmnist*.npz")) or sorted(path.glob("*.npz"))
    if not candidates:
        raise FileNotFoundError(f"no .npz file in {path} (expected e.g. chestmnist.npz)")
    if len(candidates) > 1:
        log.warning("several .npz files in %s, using %s", path, candidates[0].name)
    return candidates[0]


def load_npz(path: str | Path, image_size: int | None = None) -> XrayData:
    """Load the MedMNIST layout (``train/val/test_images`` uint8, ``train/val/test_labels`` N x L).

    ``path`` is the ``.npz`` file or a folder holding it; ``image_size`` resizes, None keeps the stored size.
    """
    file = _find_npz(Path(path))
    with np.load(file) as npz:
        missing = [k for k in NPZ_KEYS if k not in npz.files]
        if missing:
            raise KeyError(f"{file}: missing arrays {missing} (has {sorted(npz.files)})")
        arrays = {k: npz[k] for k in NPZ_KEYS}
    parts: dict[str, np.ndarray] = {}
    for split in ("train", "val", "test"):
        images = _as_gray_uint8(arrays[f"{split}_images"], f"{file}:{split}_images")
        labels = np.asarray(arrays[f"{split}_labels"], dtype=np.float32)
        if labels.ndim == 1:
            labels = labels[:, None]
        if labels.ndim != 2 or len(labels) != len(images):
            raise ValueError(f"{file}: {split}_labels shape {labels.shape} does not match {len(images)} images")
        parts[f"{split}_images"] = resize_images(images, image_size) if image_size else images
        parts[f"{split}_labels"] = labels
    n_labels = parts["train_labels"].shape[1]
    names = NIH_LABELS if n_labels == len(NIH_LABELS) else tuple(f"label_{i}" for i in range(n_labels))
    return XrayData(label_names=names, **parts)


def _index_images(folder: Path) -> dict[str, Path]:
    """File name -> path over ``images/``, the folder root, and the official ``images_NNN/images/`` parts."""
    roots = [folder / "images", folder, *sorted(folder.glob("images_*/images"))]
    index: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            continue
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.name not in index:
                    index[entry.name] = Path(entry.path)
    return index


def _read_list(path: Path) -> set[str] | None:
    if not path.is_file():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _multi_hot(findings: str, image: str) -> np.ndarray:
    row = np.zeros(len(NIH_LABELS), dtype=np.float32)
    for label in (s.strip() for s in findings.split("|")):
        if not label or label == NO_FINDING:
            continue
        if label not in NIH_LABELS:
            raise ValueError(f"Data_Entry_2017.csv: unknown finding {label!r} for image {image}")
        row[NIH_LABELS.index(label)] = 1.0
    return row


def _split_by_patient(
    names: list[str], patients: list[str], fractions: tuple[float, ...], seed: int
) -> list[list[str]]:
    """Split names into len(fractions)+1 groups with no patient in two groups (no leakage)."""
    unique = sorted(set(patients))
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    group_of: dict[str, int] = {}
    start = 0
    for g, frac in enumerate(fractions):
        # at least one patient per held-out group when there are enough patients for train to keep one
        n = max(1, round(frac * len(unique))) if len(unique) > len(fractions) else 0
        for p in unique[start : start + n]:
            group_of[p] = g + 1
        start += n
    groups: list[list[str]] = [[] for _ in range(len(fractions) + 1)]
    for name, patient in zip(names, patients, strict=True):
        groups[group_of.get(patient, 0)].append(name)
    return groups


def load_nih(
    folder: str | Path,
    image_size: int = 64,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_images: int | None = None,
) -> XrayData:
    """Load an NIH ChestX-ray14 folder: ``Data_Entry_2017.csv`` + images (``images/`` or the root).

    Splits: ``test_list.txt`` / ``train_val_list.txt`` when present (the official split), validation
    carved out of train by patient; otherwise train/val/test by patient. Rows whose image is absent are
    skipped, so a site may hold any subset of the 112,120 images. ``max_images`` caps the rows read.
    """
    base = Path(folder)
    csv_path = base / "Data_Entry_2017.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"NIH label file not found: {csv_path}")
    index = _index_images(base)
    names: list[str] = []
    patients: list[str] = []
    labels: dict[str, np.ndarray] = {}
    skipped = 0
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        for col in ("Image Index", "Finding Labels"):
            if col not in (reader.fieldnames or []):
                raise ValueError(f"{csv_path}: missing column {col!r}")
        for row in reader:
            name = row["Image Index"].strip()
            if name not in index:
                skipped += 1
                continue
            names.append(name)
            # NIH file names are <patient>_<follow-up>.png; the column is used when present
            patients.append((row.get("Patient ID") or name.split("_")[0]).strip())
            labels[name] = _multi_hot(row["Finding Labels"], name)
            if max_images and len(names) >= max_images:
                break
    if not names:
        raise FileNotFoundError(f"none of the images listed in {csv_path} is under {base}/images or {base}")
    if skipped:
        log.info("%s: %d listed images are not in this folder and were skipped", csv_path, skipped)

    test_list = _read_list(base / "test_list.txt")
    if test_list is not None:
        train_val_list = _read_list(base / "train_val_list.txt")
        test = [n for n in names if n in test_list]
        rest = [(n, p) for n, p in zip(names, patients, strict=True) if n not in test_list]
        if train_val_list is not None:
            rest = [(n, p) for n, p in rest if n in train_val_list]
        train, val = _split_by_patient([n for n, _ in rest], [p for _, p in rest], (val_fraction,), seed)
    else:
        train, val, test = _split_by_patient(names, patients, (val_fraction, test_fraction), seed)

    def stack(split: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not split:
            return np.zeros((0, image_size, image_size), np.uint8), np.zeros((0, len(NIH_LABELS)), np.float32)
        return _load_images([index[n] for n in split], image_size), np.stack([labels[n] for n in split])

    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = stack(train), stack(val), stack(test)
    return XrayData(tr_x, tr_y, va_x, va_y, te_x, te_y)


def _load_images(paths: list[Path], size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            # NIH PNGs are mostly 8-bit gray, a few RGBA; convert("L") normalises both
            out[i] = np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR))
    return out


def load_xray(data_dir: str | Path, layout: str, image_size: int | None = None, seed: int = 0) -> XrayData:
    """Dispatch on ``layout``: ``npz`` (ChestMNIST) or ``nih`` (ChestX-ray14 folder, default 64 px)."""
    if layout == "npz":
        return load_npz(data_dir, image_size)
    if layout == "nih":
        return load_nih(data_dir, image_size or 64, seed=seed)
    raise ValueError(f"unknown layout {layout!r}: use 'npz' or 'nih'")
