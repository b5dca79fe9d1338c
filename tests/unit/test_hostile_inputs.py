"""Hostile and mistaken input to the real CLI (a child process, as users run it): the exit code, the field
named, bounded time (< 5 s) and memory (< 200 MB RSS, measured by wait4), nothing written to the kit store."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.speccases import job, project

MAX_SECONDS, MAX_RSS_MB = 5.0, 200
OK, RUNTIME, USAGE, INVALID = 0, 1, 2, 3


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float
    rss_mb: float


# A small launcher starts the CLI and reports the CLI's own peak RSS (wait4). Forked straight from pytest, the
# child's ru_maxrss would include pytest's own footprint from before exec (Linux keeps the high-water mark).
LAUNCHER = """
import os, resource, subprocess, sys
def limit():  # a regression must fail the test, not take the machine down
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
proc = subprocess.Popen(sys.argv[2:], preexec_fn=limit)
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli(tmp_path: Path, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Ran:
    environment = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200", **(env or {})}
    report = tmp_path / "rss.txt"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), sys.executable, "-m", "flarekube", *args],
                          input=stdin, capture_output=True, env=environment, cwd=tmp_path, timeout=30)  # fmt: skip
    seconds = time.monotonic() - started
    rss_mb = int(report.read_text()) / 1024
    report.unlink()
    return Ran(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
               seconds, rss_mb)  # fmt: skip


def bomb() -> str:
    lines = ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def with_(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return doc


VALID = dump(project())
# id -> (file content, expected exit code, text the error must contain)
CASES: dict[str, tuple[str | bytes, int, str]] = {
    "alias-bomb": (bomb(), INVALID, "expands to more than 3 MiB"),
    "recursive-alias": (VALID + "x: &x [*x]\n", INVALID, "expands to more than 3 MiB"),
    "duplicate-key": (VALID.replace("  name: hospitals\n", "  name: hospitals\n  name: other\n"), INVALID,
                      "duplicate key 'name'"),
    "gpus-string": (dump(with_(project(), "spec.sites.0.gpus", "2")), INVALID, "spec.sites[0].gpus"),
    "port-bool": (dump(with_(project(), "spec.server.flPort", True)), INVALID, "spec.server.flPort"),
    "port-float-string": (dump(with_(project(), "spec.server.flPort", "8002.0")), INVALID, "spec.server.flPort"),
    "snake-case-field": (dump(with_(project(), "spec.server.fl_port", 8002)), INVALID, "spec.server.fl_port"),
    "metadata-unknown": (dump(with_(project(), "metadata.nmae", "x")), INVALID, "metadata.nmae"),
    "label-int": (dump(with_(project(), "metadata.labels", {"tier": 1})), INVALID, "metadata.labels.tier"),
    "seed-2-32": (dump(with_(job(), "spec.seed", 2**32)), INVALID, "spec.seed"),
    "seed-huge": (dump(with_(job(), "spec.seed", 10**30)), INVALID, "spec.seed"),
    "learning-rate-nan": (dump(job()).replace("localEpochs: 2", "localEpochs: 2\n    learningRate: .nan"),
                          INVALID, "spec.workload.learningRate"),
    "empty-file": ("", INVALID, "empty input"),
    "only-comments": ("# nothing\n---\n", INVALID, "empty input"),
    "binary": (bytes(range(256)) * 8, INVALID, "not a UTF-8 text file"),
    "list-document": ("- a\n- b\n", INVALID, "must be a mapping"),
    "kind-missing": (dump({k: v for k, v in project().items() if k != "kind"}), INVALID, "kind: required"),
    "api-version-missing": (dump({k: v for k, v in project().items() if k != "apiVersion"}), INVALID, "apiVersion"),
    "deep-nesting": ("a: " + "[" * 100_000, INVALID, "nested"),
    "value-2mb": (dump(with_(project(), "spec.sites.0.name", "x" * 2_000_000)), INVALID, "spec.sites[0].name"),
    "value-10mb": (dump(with_(project(), "spec.image", "x" * 10_000_000)), INVALID, "3 MiB"),
    "file-30mb": ("# " + "x" * 30_000_000 + "\n" + VALID, INVALID, "larger than 3 MiB"),
    "tab-indent": (VALID.replace("  name: hospitals", "\tname: hospitals"), INVALID, "not valid YAML"),
}
ACCEPTED: dict[str, str | bytes] = {
    "crlf": VALID.replace("\n", "\r\n"),
    "bom": "\ufeff" + VALID,
    "bom-crlf": ("\ufeff" + VALID.replace("\n", "\r\n")).encode("utf-8"),
    "date-label-stays-a-string": dump(with_(project(), "metadata.labels", {"since": "x"})).replace("x", "2024-01-01"),
    "merge-key-overridden": (  # a merged key may be overridden: that is YAML's merge, not a duplicate
        "apiVersion: flarekube.io/v1alpha1\nkind: FLProject\nmetadata: {name: hospitals}\nspec:\n  sites:\n"
        "  - &site {name: site-1, org: hospital_a, data: {hostPath: {path: /data/1}}}\n"
        "  - <<: *site\n    name: site-2\n"
    ),
}


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "input.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _bounded(ran: Ran) -> None:
    assert ran.seconds < MAX_SECONDS, f"took {ran.seconds:.1f}s"
    assert ran.rss_mb < MAX_RSS_MB, f"used {ran.rss_mb:.0f} MB"
    assert "Traceback" not in ran.err, ran.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_document_is_refused_naming_the_field_in_bounded_time_and_memory(tmp_path: Path, case: str) -> None:
    content, code, needle = CASES[case]
    ran = run_cli(tmp_path, "validate", str(_write(tmp_path, content)))
    assert ran.code == code, (ran.code, ran.err[-2000:])
    assert needle in ran.err, ran.err[-2000:]
    assert len(ran.err) < 4000, f"{len(ran.err)} characters of error: values must be cut short"
    _bounded(ran)
    # the same through kits (the command that would write): still refused, nothing written
    ran = run_cli(tmp_path, "kits", str(tmp_path / "input.yaml"))
    assert ran.code == code and not (tmp_path / "state").exists(), ran.err[-2000:]


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_valid_document_with_crlf_bom_or_yaml_features_is_accepted(tmp_path: Path, case: str) -> None:
    ran = run_cli(tmp_path, "validate", str(_write(tmp_path, ACCEPTED[case])))
    assert ran.code == OK, ran.err
    assert "valid FLProject hospitals" in ran.out
    _bounded(ran)


def test_stdin_and_folders_are_inputs(tmp_path: Path) -> None:
    ran = run_cli(tmp_path, "validate", "-f", "-", stdin=dump(with_(project(), "spec.sites.0.gpus", "2")).encode())
    assert ran.code == INVALID and "<stdin>" in ran.err and "spec.sites[0].gpus" in ran.err, ran.err
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "project.yaml").write_text(dump(project()))
    (folder / "job.yml").write_text(dump(job()))
    (folder / "notes.txt").write_text("not read")
    ran = run_cli(tmp_path, "validate", str(folder), "-o", "json")
    assert ran.code == OK, ran.err
    assert [d["kind"] for d in yaml.safe_load(ran.out)["documents"]] == ["FLJob", "FLProject"]
    ran = run_cli(tmp_path, "validate", str(tmp_path / "state"))
    assert ran.code == INVALID and "file not found" in ran.err


def test_machine_output_of_an_invalid_document_names_every_problem(tmp_path: Path) -> None:
    doc = with_(with_(project(), "spec.sites.0.gpus", "2"), "metadata.nmae", "x")
    ran = run_cli(tmp_path, "validate", str(_write(tmp_path, dump(doc))), "-o", "yaml")
    assert ran.code == INVALID
    data = yaml.safe_load(ran.out)
    assert data["ok"] is False and data["exitCode"] == INVALID
    assert any(p.startswith("spec.sites[0].gpus:") for p in data["problems"]), data
    assert any(p.startswith("metadata.nmae:") for p in data["problems"]), data


def test_a_workspace_that_is_a_file_and_results_without_a_cluster_are_errors_not_tracebacks(tmp_path: Path) -> None:
    spec = _write(tmp_path, dump(project()))
    (tmp_path / "ws").write_text("a file")
    ran = run_cli(tmp_path, "kits", str(spec), "--workspace", str(tmp_path / "ws"))
    assert ran.code == USAGE and "--workspace" in ran.err, ran.err
    _bounded(ran)
    ran = run_cli(tmp_path, "results", "train", env={"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)})
    assert ran.code == RUNTIME and "no Kubernetes cluster configured" in ran.err, ran.err
    _bounded(ran)
    ran = run_cli(tmp_path, "validate")
    assert ran.code == USAGE and "give at least one FILE" in ran.err
