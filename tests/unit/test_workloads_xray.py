"""chest-xray-cnn workload: the CNN, both loaders on generated tiny files, the training loop."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from flarekube_workloads.xray.client import parse_args
from flarekube_workloads.xray.data import NIH_LABELS, load_nih, load_npz, load_xray
from flarekube_workloads.xray.model import ChestCNN
from flarekube_workloads.xray.train import evaluate, fit
from PIL import Image

FINDINGS = ["No Finding", "Effusion", "Atelectasis|Hernia", "Mass|Nodule|Pneumonia"]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # CI machines here are small and shared: torch's default intra-op pool was measured 10-20x slower
    # than one thread for these tiny models under load
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_npz(path: Path, n: tuple[int, int, int] = (40, 12, 12), size: int = 28) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        labels = rng.integers(0, 2, size=(count, 14)).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, size, size)).astype(np.uint8)
        # label 0 brightens the image: a signal the CNN can learn in a few steps
        images[labels[:, 0] == 1] += 150
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    np.savez(path, **arrays)


def _write_nih(root: Path, n_patients: int = 10, per_patient: int = 2, in_images_dir: bool = True) -> list[str]:
    img_dir = root / "images" if in_images_dir else root
    img_dir.mkdir(parents=True, exist_ok=True)
    rows, names = [], []
    for p in range(n_patients):
        for k in range(per_patient):
            name = f"{p + 1:08d}_{k:03d}.png"
            Image.fromarray(np.full((40, 50), 10 * p + k, dtype=np.uint8)).save(img_dir / name)
            finding = FINDINGS[(p + k) % 4]
            rows.append({"Image Index": name, "Finding Labels": finding, "Patient ID": str(p + 1)})
            names.append(name)
    # one row whose image this site does not hold: skipped, not an error
    rows.append({"Image Index": "99999999_000.png", "Finding Labels": "Edema", "Patient ID": "99999999"})
    with (root / "Data_Entry_2017.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["Image Index", "Finding Labels", "Follow-up #", "Patient ID"])
        w.writeheader()
        w.writerows(rows)
    return names


def test_cnn_forward_shape_for_several_sizes() -> None:
    model = ChestCNN(num_classes=14, in_channels=1)
    for size in (28, 64):
        assert model(torch.zeros(3, 1, size, size)).shape == (3, 14)
    assert ChestCNN(num_classes=5, in_channels=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert sum(p.numel() for p in model.parameters()) < 400_000  # "compact"


def test_npz_loader_file_folder_and_resize(tmp_path: Path) -> None:
    _write_npz(tmp_path / "chestmnist.npz")
    d = load_npz(tmp_path / "chestmnist.npz")
    assert d.train_images.shape == (40, 28, 28) and d.train_images.dtype == np.uint8
    assert d.train_labels.shape == (40, 14) and d.train_labels.dtype == np.float32
    assert d.val_images.shape == (12, 28, 28) and d.test_labels.shape == (12, 14)
    assert d.label_names == NIH_LABELS and d.num_classes == 14
    d64 = load_xray(tmp_path, "npz", image_size=64)  # a folder holding the .npz works too
    assert d64.train_images.shape == (40, 64, 64) and d64.image_size == 64


def test_npz_loader_names_missing_keys_and_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", train_images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(KeyError, match="val_images"):
        load_npz(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match=r"absent\.npz"):
        load_npz(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match=r"no \.npz"):
        (tmp_path / "empty").mkdir()
        load_npz(tmp_path / "empty")


def test_nih_loader_labels_and_patient_split(tmp_path: Path) -> None:
    names = _write_nih(tmp_path)
    d = load_nih(tmp_path, image_size=16, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert len(d.train_labels) + len(d.val_labels) + len(d.test_labels) == len(names) == 20
    assert d.train_images.shape[1:] == (16, 16) and d.train_images.dtype == np.uint8
    assert len(d.val_labels) == 4 and len(d.test_labels) == 4  # 2 of 10 patients each, 2 images per patient
    all_labels = np.concatenate([d.train_labels, d.val_labels, d.test_labels])
    counts = all_labels.sum(axis=0)
    idx = {name: i for i, name in enumerate(NIH_LABELS)}
    expected = [FINDINGS[(p + k) % 4] for p in range(10) for k in range(2)]
    for label in ("Effusion", "Hernia", "Pneumonia", "Atelectasis"):
        assert counts[idx[label]] == sum(label in f.split("|") for f in expected), label
    assert counts[idx["Edema"]] == 0  # its image is absent, the row was skipped
    assert (all_labels.sum(axis=1) == 0).sum() == expected.count("No Finding")  # all-zero rows
    # the same seed gives the same split; images of one patient never straddle splits
    again = load_nih(tmp_path, image_size=16, val_fraction=0.2, test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again.test_images, d.test_images)


def test_nih_loader_official_lists_and_root_images(tmp_path: Path) -> None:
    names = _write_nih(tmp_path, in_images_dir=False)
    test = names[:6]
    (tmp_path / "test_list.txt").write_text("\n".join(test) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(names[6:]) + "\n")
    d = load_nih(tmp_path, image_size=8, val_fraction=0.25)
    assert len(d.test_labels) == 6
    assert len(d.train_labels) + len(d.val_labels) == 14 and len(d.val_labels) > 0


def test_nih_loader_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Data_Entry_2017\.csv"):
        load_nih(tmp_path)
    _write_nih(tmp_path, n_patients=2)
    with (tmp_path / "Data_Entry_2017.csv").open("a") as fh:
        fh.write("00000001_000.png,Flu,0,1\n")
    with pytest.raises(ValueError, match="'Flu'"):
        load_nih(tmp_path)
    with pytest.raises(ValueError, match="layout"):
        load_xray(tmp_path, "dicom")


def test_training_learns_the_planted_signal(tmp_path: Path) -> None:
    # 16 px keeps this CPU test to a few seconds; the real ChestMNIST is 28 px
    _write_npz(tmp_path / "chestmnist.npz", n=(64, 32, 8), size=16)
    d = load_npz(tmp_path / "chestmnist.npz")
    torch.manual_seed(0)
    model = ChestCNN()
    dev = torch.device("cpu")
    before = evaluate(model, d.val_images, d.val_labels, dev)
    loss, steps = fit(model, d.train_images, d.train_labels, 3, 3e-3, 32, torch.Generator().manual_seed(0), dev)
    assert steps == 6 and np.isfinite(loss)
    after = evaluate(model, d.val_images, d.val_labels, dev)
    assert 0.0 <= after["auc"] <= 1.0 and after["loss"] < before["loss"]
    # the per-round cap bounds the work for fast CI
    _, capped = fit(model, d.train_images, d.train_labels, 5, 1e-3, 32, torch.Generator(), dev, max_batches=3)
    assert capped == 3
    assert evaluate(model, d.val_images, d.val_labels, dev, batch_size=16, max_batches=1)["loss"] > 0


def test_client_args() -> None:
    a = parse_args(["--data-dir", "/data/{site}", "--layout", "nih", "--max-batches", "5"])
    assert (a.layout, a.max_batches, a.image_size, a.local_epochs) == ("nih", 5, 0, 1)
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", "x", "--layout", "png"])
