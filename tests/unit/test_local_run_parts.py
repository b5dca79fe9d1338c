"""The pieces of `flarekube run` that need no federation: data checks, ports, metrics, outputs."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from flarekube.api import load_bundle
from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.local import ports
from flarekube.local.data import resolve_site_inputs
from flarekube.local.outputs import write_metrics_csv, write_plot
from flarekube.local.samples import latest_by_site, read_samples, rounds_done
from flarekube.local.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "crc-fedavg.yaml"


def _bundle() -> tuple[FLProject, FLJob, Path]:
    bundle = load_bundle([EXAMPLE])
    return bundle.project, bundle.jobs[0], bundle.base_dir


def test_example_data_resolves_against_the_project_file() -> None:
    project, job, base = _bundle()
    inputs, problems = resolve_site_inputs(project, job, ["site-1", "site-2"], base)
    assert problems == []
    assert inputs["site-1"].data_dir == str(REPO / "examples" / "data" / "crc")


def test_every_missing_path_is_named_per_site(tmp_path: Path) -> None:
    project, job, _ = _bundle()
    (tmp_path / "data" / "crc").mkdir(parents=True)
    (tmp_path / "data" / "crc" / "site-1.csv").write_text("0,1\n")
    _, problems = resolve_site_inputs(project, job, ["site-1", "site-2"], tmp_path)
    text = [str(p) for p in problems]
    assert any(t.startswith("site site-1: test file") and "site-1_test.csv" in t for t in text)
    assert any(t.startswith("site site-2: train file") for t in text)
    assert not any("site-1: train" in t for t in text)


def test_a_site_without_data_is_refused_for_builtin_workloads() -> None:
    project, job, base = _bundle()
    bare = project.model_copy(
        update={
            "spec": project.spec.model_copy(update={"sites": [project.spec.sites[0].model_copy(update={"data": None})]})
        }
    )
    _, problems = resolve_site_inputs(bare, job, ["site-1"], base)
    assert [str(p) for p in problems] == ["site site-1: has no data source (spec.sites[].data.localPath)"]


def test_ports_follow_the_spec_and_a_busy_one_is_replaced(tmp_path: Path) -> None:
    """Ports are config (builders/connection.py), not kept for the kits: each run takes the spec's when
    free, else the ones chosen last time for the same spec (when free), else free ones."""
    ws = Workspace(tmp_path / "ws")
    ws.create()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        chosen = ws.ports((taken, taken))
        assert taken not in chosen  # the spec's port is taken, so free ones were picked
        assert ws.saved_ports() == chosen
        assert ws.ports((taken, taken)) == chosen  # still taken: the same choice, no churn
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        wanted = (one.getsockname()[1], two.getsockname()[1])  # two distinct ports, free once closed
    assert ws.ports(wanted) == wanted  # a changed spec is followed, not the earlier choice
    assert ws.saved_ports() == wanted
    assert (ws.root / "ports.json").stat().st_mode & 0o777 == 0o600
    assert ws.root.stat().st_mode & 0o777 == 0o700


def test_choose_keeps_a_single_port_setup() -> None:
    port = ports.free_port()
    assert ports.choose((port, port)) == (port, port)


def _write_metrics(folder: Path, rows: list[tuple[int, str, str, float | None]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for r, site, metric, value in rows:
        with (folder / f"{site}.jsonl").open("a") as fh:
            fh.write(json.dumps({"round": r, "site": site, "metric": metric, "value": value}) + "\n")


def test_metrics_files_give_rounds_latest_values_csv_and_plot(tmp_path: Path) -> None:
    rows = [
        (0, "site-1", "val_auc", 0.5), (0, "site-1", "train_loss", 0.7), (1, "site-1", "val_auc", 0.9),
        (0, "site-2", "val_auc", 0.6), (0, "site-2", "train_loss", 0.6), (1, "site-2", "val_auc", None),
    ]  # fmt: skip
    _write_metrics(tmp_path / "m", rows)
    with (tmp_path / "m" / "site-2.jsonl").open("a") as fh:
        fh.write('{"round": 2, "site": "site-2", "met')  # a line still being written is skipped
    samples = read_samples(tmp_path / "m")
    assert len(samples) == 6
    assert rounds_done(samples, ["site-1", "site-2"]) == 2
    assert rounds_done(samples, ["site-1", "site-3"]) == 0  # site-3 has not reported yet
    latest = latest_by_site(samples)
    assert latest["site-1"] == {"round": 1, "val_auc": 0.9, "train_loss": 0.7}
    write_metrics_csv(samples, tmp_path / "metrics.csv")
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "round,site,metric,value" and "2,site-2,val_auc," in lines
    write_plot(samples, ["site-1", "site-2"], "t", tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_server_job_store_is_private_to_the_run(tmp_path: Path) -> None:
    from flarekube.local.federation import private_job_store

    local = tmp_path / "server" / "local"
    local.mkdir(parents=True)
    (local / "resources.json").write_text('{"uri_root": "/tmp/nvflare/jobs-storage", "x": "/tmp/other"}')
    private_job_store(tmp_path / "server", tmp_path / "run" / "nvflare")
    text = (local / "resources.json").read_text()
    assert f'"{tmp_path}/run/nvflare/jobs-storage"' in text and "/tmp/other" in text
