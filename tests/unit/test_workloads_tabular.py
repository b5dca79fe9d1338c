"""clinical-tabular workload: CRC loading, standardisation, AUC, the local-only baseline, reporting."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from flarekube_workloads.auc import mean_auc, roc_auc
from flarekube_workloads.flare_loop import expand_site, load_params
from flarekube_workloads.reporting import METRICS_DIR_ENV, MetricsRecorder
from flarekube_workloads.tabular.baseline import evaluate, load_state_dict, train_local
from flarekube_workloads.tabular.client import parse_args
from flarekube_workloads.tabular.data import load_site
from flarekube_workloads.tabular.model import TabularNet

CRC = Path(__file__).resolve().parents[2] / "examples" / "data" / "crc"


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # CI machines here are small and shared: torch's default intra-op pool was measured 10-20x slower
    # than one thread for these tiny models under load
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_csv(path: Path, rows: list[list[float]]) -> None:
    path.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


def test_standardisation_is_fitted_on_train_rows_only(tmp_path: Path) -> None:
    _write_csv(tmp_path / "tr.csv", [[0, 1.0, 10.0], [1, 3.0, 10.0], [0, 5.0, 10.0]])
    _write_csv(tmp_path / "te.csv", [[1, 100.0, 7.0], [0, 3.0, 10.0]])
    d = load_site(tmp_path, "tr.csv", "te.csv")
    np.testing.assert_allclose(d.mean, [3.0, 10.0])
    np.testing.assert_allclose(d.std, [math.sqrt(8 / 3), 1.0])  # constant column: std 1, not 0
    np.testing.assert_allclose(d.x_train[:, 0].mean(), 0.0, atol=1e-6)
    # test rows use the train statistics: an outlier in test must not change the scaling
    np.testing.assert_allclose(d.x_test[:, 0], [(100 - 3) / math.sqrt(8 / 3), 0.0], rtol=1e-6)
    np.testing.assert_allclose(d.x_test[:, 1], [-3.0, 0.0])
    assert d.y_train.tolist() == [0, 1, 0] and d.y_test.tolist() == [1, 0]
    assert d.x_train.dtype == np.float32 and d.n_features == 2


def test_missing_file_is_named(tmp_path: Path) -> None:
    _write_csv(tmp_path / "site-9.csv", [[0, 1.0], [1, 2.0]])
    with pytest.raises(FileNotFoundError, match=r"site-9_test\.csv"):
        load_site(tmp_path, "site-9.csv", "site-9_test.csv")
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_site(tmp_path, "nope.csv", "site-9.csv")


def test_bad_label_and_feature_mismatch_are_rejected(tmp_path: Path) -> None:
    _write_csv(tmp_path / "a.csv", [[2, 1.0], [1, 2.0]])
    _write_csv(tmp_path / "b.csv", [[0, 1.0, 2.0]])
    _write_csv(tmp_path / "c.csv", [[0, 1.0], [1, 2.0]])
    with pytest.raises(ValueError, match="0/1 label"):
        load_site(tmp_path, "a.csv", "c.csv")
    with pytest.raises(ValueError, match="features"):
        load_site(tmp_path, "c.csv", "b.csv")


def test_real_crc_sites_load_with_documented_shapes() -> None:
    expected = {1: (156, 67), 2: (776, 333), 3: (348, 150), 4: (265, 114)}
    for site, (n_train, n_test) in expected.items():
        d = load_site(CRC, f"site-{site}.csv", f"site-{site}_test.csv")
        assert d.x_train.shape == (n_train, 62) and d.x_test.shape == (n_test, 62)
    header = (CRC / "site-1_header.csv").read_text().strip().split(",")
    assert header[0] == "label" and len(header) == 63


def test_auc_hand_computed_with_ties() -> None:
    # positives score 0.8, 0.4, 0.4; negatives 0.4, 0.1.  Pairs (pos > neg = 1, tie = 0.5):
    # 0.8: beats both -> 2;  each 0.4: ties 0.4 (0.5) + beats 0.1 (1) -> 1.5;  total 5 of 3*2 = 6 pairs
    y = [1, 1, 1, 0, 0]
    s = [0.8, 0.4, 0.4, 0.4, 0.1]
    assert roc_auc(y, s) == pytest.approx(5 / 6)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc([0, 1], [0.9, 0.2]) == 0.0
    assert roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))  # one class: undefined
    # multi-label: the second column has one class only and is skipped
    y2 = np.array([[1, 0], [0, 0], [1, 0]])
    s2 = np.array([[0.9, 0.1], [0.1, 0.2], [0.8, 0.3]])
    assert mean_auc(y2, s2) == 1.0


def test_train_local_on_real_site2_beats_chance_fast() -> None:
    d = load_site(CRC, "site-2.csv", "site-2_test.csv")
    t0 = time.monotonic()
    state = train_local(d, epochs=5, lr=1e-3, batch_size=32, seed=0)
    elapsed = time.monotonic() - t0
    m = evaluate(state, d)
    # measured here: test AUC 0.997 after 5 epochs (a well-separated data set)
    assert m["auc"] > 0.9, m
    assert m["loss"] < 0.5, m
    assert elapsed < 10, elapsed
    # deterministic for a given seed
    assert evaluate(train_local(d, epochs=5, seed=0), d) == pytest.approx(m)


def test_state_dict_roundtrip_through_nvflare_checkpoint_layout(tmp_path: Path) -> None:
    d = load_site(CRC, "site-1.csv", "site-1_test.csv")
    state = train_local(d, epochs=1, seed=1)
    # NVFlare's PT persistor writes {"model": {name: tensor}, "train_conf": ...}
    torch.save({"model": state, "train_conf": {"train": {"model": "TabularNet"}}}, tmp_path / "g.pt")
    torch.save(state, tmp_path / "plain.pt")
    for f in ("g.pt", "plain.pt"):
        assert evaluate(load_state_dict(tmp_path / f), d) == pytest.approx(evaluate(state, d))


def test_load_params_accepts_numpy_exchange_format() -> None:
    src, dst = TabularNet(), TabularNet()
    as_numpy = {k: v.numpy() for k, v in src.state_dict().items()}
    assert load_params(dst, as_numpy)
    for k, v in dst.state_dict().items():
        torch.testing.assert_close(v, src.state_dict()[k])
    assert not load_params(dst, None)
    with pytest.raises(KeyError, match="nope"):
        load_params(dst, {"nope": np.zeros(1)})


def test_model_outputs_one_logit_per_row() -> None:
    assert TabularNet(n_features=62)(torch.zeros(5, 62)).shape == (5,)


def test_client_args_and_site_templates() -> None:
    a = parse_args(["--data-dir", "/data/{site}", "--local-epochs", "3"])
    assert (a.train_file, a.test_file) == ("{site}.csv", "{site}_test.csv")
    assert (a.local_epochs, a.batch_size) == (3, 32)
    assert expand_site(a.data_dir, "site-2") == "/data/site-2"
    assert expand_site(a.test_file, "site-2") == "site-2_test.csv"


def test_reporting_writes_one_json_line_per_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "not" / "yet"
    monkeypatch.setenv(METRICS_DIR_ENV, str(target))
    rec = MetricsRecorder("site-3")
    out = rec.record(2, {"train_loss": 0.5, "val_auc": float("nan"), "num_samples": 348})
    assert out["num_samples"] == 348.0 and isinstance(out["num_samples"], float)
    rec.record(3, {"val_auc": 0.75})
    lines = [json.loads(x) for x in (target / "site-3.jsonl").read_text().splitlines()]
    assert [(x["round"], x["site"], x["metric"], x["value"]) for x in lines] == [
        (2, "site-3", "train_loss", 0.5),
        (2, "site-3", "val_auc", None),  # NaN is not JSON: written as null
        (2, "site-3", "num_samples", 348.0),
        (3, "site-3", "val_auc", 0.75),
    ]


def test_reporting_is_a_noop_without_the_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    rec = MetricsRecorder("site-1")
    assert rec.path is None
    assert rec.record(0, {"val_auc": 0.6}) == {"val_auc": 0.6}
    assert list(tmp_path.iterdir()) == []
