"""The pure parts of a user's job on a cluster and in --out: packing, logs' first errors, outputs, progress."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from flarekube import flare
from flarekube.builders.jobcheck import JobFolderError
from flarekube.builders.jobpack import (
    MAX_PACKED_BYTES,
    fljob_for_folder,
    job_folder_configmap,
    job_rounds,
    pack_job_folder,
    packed_of,
    unpack_job_folder,
)
from flarekube.local import outputs
from flarekube.status.job import JobSnapshot, job_status
from flarekube.status.joblogs import error_summary, first_errors

from tests.support.userjobs import export_sklearn_job


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_sklearn_job(tmp_path_factory.mktemp("sk"), rounds=7)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_packs_deterministically_and_unpacks_to_the_same_files(exported: Path, tmp_path: Path) -> None:
    first = pack_job_folder(exported)
    os.utime(exported / "meta.json", (time.time() + 100, time.time() + 100))
    assert pack_job_folder(exported) == first, "the same folder must give the same bytes (no times, no owners)"
    cm = job_folder_configmap("sk-job-job", "ns", "p", first)
    assert cm["metadata"]["labels"]["flarekube.io/component"] == "job-folder"
    back = unpack_job_folder(packed_of(cm), tmp_path / "back")
    assert _files(back) == _files(exported)
    assert job_rounds(exported) == 7
    job = fljob_for_folder("sk-job", "ns", "p", "sk-job-job", 7)
    from flarekube.api import parse_document

    assert parse_document(job).spec.workload.job_folder.config_map == "sk-job-job"  # type: ignore[union-attr]


def test_a_folder_too_large_for_a_configmap_is_refused_before_anything(exported: Path, tmp_path: Path) -> None:
    import shutil

    folder = Path(shutil.copytree(exported, tmp_path / "big"))
    (folder / "app" / "weights.bin").write_bytes(os.urandom(MAX_PACKED_BYTES + 1))
    with pytest.raises(JobFolderError, match=r"packs to \d+ KiB, more than a ConfigMap holds"):
        pack_job_folder(folder)
    with pytest.raises(JobFolderError, match=r"has no meta\.json"):
        pack_job_folder(tmp_path / "big" / "app")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "app/../../evil"])
def test_unpacking_refuses_paths_outside_the_job(tmp_path: Path, name: str) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(JobFolderError, match="only plain files and folders inside the job"):
        unpack_job_folder(raw.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


def test_a_link_in_the_archive_is_refused(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("meta.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(JobFolderError, match="only plain files"):
        unpack_job_folder(raw.getvalue(), tmp_path / "dest")
    with pytest.raises(JobFolderError, match="cannot be read"):
        unpack_job_folder(b"not a tarball", tmp_path / "dest2")


LOG = """2026-12-02 05:40:01,100 - ServerRunner - INFO - [identity=server] - starting
2026-12-02 05:40:01,200 - ComponentBuilder - ERROR - [identity=server] - Component 'a.b.C' is not in allow_list
2026-12-02 05:40:01,300 - ServerRunner - ERROR - [identity=server] - EXECUTION_EXCEPTION
2026-12-02 05:40:01,400 - X - ERROR - third
2026-12-02 05:40:01,500 - X - ERROR - fourth
"""


def test_a_traceback_shows_its_exception_line() -> None:
    log = ["2026-12-02 06:39:30,449 - JsonScanner - ERROR - Traceback (most recent call last):",
           '  File "boom.py", line 6, in __init__', "ValueError: column age missing",
           "2026-12-02 06:39:30,500 - X - INFO - later"]  # fmt: skip
    assert first_errors(log) == [log[0] + " ... ValueError: column age missing"]


def test_the_first_error_lines_name_the_cause_and_stop_at_the_limit() -> None:
    lines = first_errors(LOG.splitlines())
    assert len(lines) == 3 and "not in allow_list" in lines[0] and "fourth" not in "".join(lines)
    assert first_errors(["2026-12-02 05:40:01,100 - X - ERROR - " + "x" * 5000])[0].endswith("…")
    summary = error_summary({"server": LOG.splitlines(), "site-1": ["all fine"]}, limit=1)
    assert summary == "server: " + LOG.splitlines()[1]


def test_a_failed_jobs_errors_go_into_the_status_message() -> None:
    snap = JobSnapshot(generation=1, total_rounds=10, job_id="j", nvflare_status="FINISHED:EXECUTION_EXCEPTION",
                       failure="server: ... is not in allow_list")  # fmt: skip
    status = job_status(snap, None)
    assert status.phase == "Failed" and status.message == "server: ... is not in allow_list"
    complete = next(c for c in status.conditions if c.type == "Complete")
    assert complete.message is not None and "first errors:\nserver: ... is not in allow_list" in complete.message


def test_a_second_run_keeps_the_previous_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert outputs.keep_previous(out) is None
    out.mkdir()
    (out / "summary.json").write_text('{"run": 1}')
    (out / "logs").mkdir()
    (out / "logs" / "server.log").write_text("one")
    moved = outputs.keep_previous(out)
    assert moved is not None and moved.parent == out / "history"
    assert json.loads((moved / "summary.json").read_text()) == {"run": 1}
    assert (moved / "logs" / "server.log").read_text() == "one"
    assert sorted(p.name for p in out.iterdir()) == ["history"]
    (out / "summary.json").write_text('{"run": 2}')
    again = outputs.keep_previous(out)
    assert again is not None and again != moved and (again / "summary.json").read_text() == '{"run": 2}'


def test_results_of_any_format_are_copied_and_bookkeeping_is_not(tmp_path: Path) -> None:
    # NVFlare 2.9's download: <result>/job/<name>/ (the submitted job), <result>/workspace/ (the server's)
    app = tmp_path / "result" / "workspace"
    (app / "config").mkdir(parents=True)
    for name in ("FL_global_model.pt", "model_param.joblib", "weights.npy", "stats.json", "meta.json", "log.txt",
                 "log.json", ".__nvfl_sig.json"):
        (app / name).write_text(name)
    (app / "config" / "config_fed_server.json").write_text("{}")
    (tmp_path / "result" / "job" / "j" / "app").mkdir(parents=True)
    (tmp_path / "result" / "job" / "j" / "app" / "init.npy").write_text("submitted, not a result")
    (tmp_path / "out").mkdir()
    found = outputs.collect_results(tmp_path / "result", tmp_path / "out")
    assert sorted(p.name for p in found) == ["global_model.pt", "model_param.joblib", "stats.json", "weights.npy"]
    assert (tmp_path / "out" / "global_model.pt").read_text() == "FL_global_model.pt"


class _Session:
    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def show_stats(self, job_id: str, target: str) -> dict[str, Any]:
        return self.stats


def test_progress_is_read_from_round_progress_and_from_scatter_and_gather() -> None:
    ours = {"server": {flare.STATS_GROUP: {"rounds_done": 3, "num_rounds": 10, "finished": False, "metrics": {},
                                            "site_metrics": {"site-1": {"accuracy": 0.9, "bad": "x"}}}}}  # fmt: skip
    p = flare.job_progress(_Session(ours), "j")  # type: ignore[arg-type]
    assert p is not None and (p.rounds_done, p.total_rounds) == (3, 10)
    assert p.site_metrics == {"site-1": {"accuracy": 0.9}}
    sag = {"server": {"scatter_and_gather": {"phase": "train", "current_round": 4, "num_rounds": 10}}}
    p = flare.job_progress(_Session(sag), "j")  # type: ignore[arg-type]
    assert p is not None and (p.rounds_done, p.total_rounds, p.finished) == (4, 10, False)
    done = {"server": {"sag": {"phase": "_finished_", "current_round": 9, "num_rounds": 10}}}
    assert flare.job_progress(_Session(done), "j").rounds_done == 10  # type: ignore[arg-type, union-attr]
    assert flare.job_progress(_Session({"server": {}}), "j") is None  # type: ignore[arg-type]
