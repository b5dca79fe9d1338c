"""The root CA is never replaced silently, whichever flags and workspace are given (issue 9).

The default workspace is keyed by metadata.name; a renamed spec.projectName, a renamed metadata.name next
to an existing federation, or a root CA deleted with all its kits are refused with the same explanation
with and without --workspace and --reissue-kits; only --new-root-ca allows a new root.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from flarekube.cli import app
from typer.testing import CliRunner

from tests.support.federation import project_doc

REFUSED = 4


def _kits(tmp_path: Path, doc: dict[str, Any], *args: str) -> tuple[int, str]:
    spec = tmp_path / "project.yaml"
    spec.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(
        app, ["kits", str(spec), *args], env={"XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}
    )
    return result.exit_code, result.output


def _ca_hash(root: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted((root / "kits" / "ca").iterdir()))).hexdigest()


@pytest.fixture
def issued(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    doc = project_doc("fed", 2)
    code, out = _kits(tmp_path, doc)
    assert code == 0, out
    root = tmp_path / "state" / "flarekube" / "fed"
    assert (root / "federation.json").is_file()
    return doc, root


def test_project_rename_with_the_default_workspace_is_refused_whatever_the_flags(
    tmp_path: Path, issued: tuple[dict[str, Any], Path]
) -> None:
    doc, root = issued
    before = _ca_hash(root)
    renamed = copy.deepcopy(doc)
    renamed["spec"]["projectName"] = "fed-renamed"
    explanations = set()
    for flags in ((), ("--reissue-kits",), ("--workspace", str(root)), ("--workspace", str(root), "--reissue-kits")):
        code, out = _kits(tmp_path, renamed, *flags)
        assert code == REFUSED, (flags, out)
        assert "renamed from 'fed' to 'fed-renamed'" in out and "--new-root-ca" in out, out
        explanations.add(" ".join(out.split()))
    assert len(explanations) == 1  # one explanation, whatever the flags
    assert _ca_hash(root) == before
    assert sorted(p.name for p in (tmp_path / "state" / "flarekube").iterdir()) == ["fed"]  # no new workspace

    code, out = _kits(tmp_path, renamed, "--new-root-ca")
    assert code == 0, out
    assert _ca_hash(root) != before  # asked for: a new root, in the same workspace
    code, out = _kits(tmp_path, renamed)
    assert code == 0 and "issued" not in out.split("participant")[-1], out  # and from now on it is kept


def test_renamed_metadata_name_does_not_mint_a_second_root_for_the_project(
    tmp_path: Path, issued: tuple[dict[str, Any], Path]
) -> None:
    doc, _ = issued
    moved = copy.deepcopy(doc)
    moved["metadata"]["name"] = "fed2"
    moved["spec"]["projectName"] = "fed"  # the same NVFlare project, under another FLProject name
    code, out = _kits(tmp_path, moved)
    assert code == REFUSED, out
    assert "already holds the root CA of project 'fed'" in " ".join(out.split()), out
    assert not (tmp_path / "state" / "flarekube" / "fed2").exists()  # nothing written
    code, out = _kits(tmp_path, moved, "--new-root-ca")  # a separate federation, said out loud
    assert code == 0, out


def test_a_root_deleted_with_every_kit_is_not_recreated_silently(
    tmp_path: Path, issued: tuple[dict[str, Any], Path]
) -> None:
    doc, root = issued
    shutil.rmtree(root / "kits")
    code, out = _kits(tmp_path, doc)
    assert code == REFUSED, out
    assert "is gone from" in out and "--new-root-ca" in out, out
    assert not (root / "kits").exists()


def test_a_workspace_of_the_old_projectname_layout_is_pointed_to(tmp_path: Path) -> None:
    doc = project_doc("fed", 2)
    doc["spec"]["projectName"] = "legacy"
    code, out = _kits(tmp_path, doc, "--workspace", str(tmp_path / "state" / "flarekube" / "legacy"))
    assert code == 0, out
    (tmp_path / "state" / "flarekube" / "legacy" / "federation.json").unlink()  # as an older flarekube left it
    code, out = _kits(tmp_path, doc)
    assert code == REFUSED, out
    assert "move that folder to" in " ".join(out.split()), out


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                       p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(root.rglob("*"))}  # fmt: skip


def test_plan_writes_nothing_and_says_what_would_change(tmp_path: Path, issued: tuple[dict[str, Any], Path]) -> None:
    doc, _ = issued
    state = tmp_path / "state"
    before = _snapshot(state)
    grown = copy.deepcopy(doc)
    grown["spec"]["sites"].append({**grown["spec"]["sites"][0], "name": "site-3", "org": "hospital_3"})
    spec = tmp_path / "grown.yaml"
    spec.write_text(yaml.safe_dump(grown))
    env = {"XDG_STATE_HOME": str(state), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["plan", str(spec), "-o", "json"], env=env)
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)
    assert [k["participant"] for k in planned["issue"]] == ["site-3"] and "site-1" in planned["keep"]
    renamed = copy.deepcopy(doc)
    renamed["spec"]["projectName"] = "fed-renamed"
    spec.write_text(yaml.safe_dump(renamed))
    for command in (["plan", str(spec)], ["kits", "--dry-run", str(spec)]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == REFUSED and "renamed from 'fed' to 'fed-renamed'" in result.output, result.output
    assert _snapshot(state) == before  # hashes, mtimes and modes: nothing written
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(app, ["plan", str(spec)], env={"XDG_STATE_HOME": str(fresh)})
    assert result.exit_code == 0 and "root CA (new)" in result.output, result.output
    assert not fresh.exists()
