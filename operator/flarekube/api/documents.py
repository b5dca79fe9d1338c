"""Read FLProject/FLJob YAML (files, folders or stdin; multi-document) into typed models.

One entry point for the CLI and the tests; the operator receives the same dicts from the API
server and calls `parse_document` on them. Held to what the API server accepts (see strictyaml.py
and SpecModel): bounded input, duplicate keys and empty input refused, strict types, unknown keys
refused in every object, metadata included. A UTF-8 BOM and CRLF line endings are fine.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import ValidationError

from flarekube.api.errors import SpecError, SpecProblem, problems_of, short
from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.api.strictyaml import MAX_OBJECT_BYTES, load_all
from flarekube.api.validation import cross_check

STDIN = Path("-")
# A whole file or stdin. PyYAML scans in pure Python (~1 s per MiB here), so the input is capped at the
# API server's limit for ONE object: a spec is a few KB, and a bigger file would be refused there anyway.
MAX_INPUT_BYTES = MAX_OBJECT_BYTES
EXTENSIONS = (".yaml", ".yml", ".json")  # what `kubectl apply -f FOLDER` reads

KINDS: dict[str, type[FLProject] | type[FLJob]] = {"FLProject": FLProject, "FLJob": FLJob}


def as_the_api_server_reads(node: Any) -> Any:
    """The document as the API server reads its JSON: a key whose value is null is absent (it prunes nulls
    of fields that are not nullable, then applies defaults) and an integer-valued number is an integer
    (`gpus: 2.0` is 2: the API server decodes JSON numbers as such and checks `type: integer` by value).
    Applied before the models see it, so `flarekube validate` and the cluster reach the same verdict."""
    if isinstance(node, dict):
        return {k: as_the_api_server_reads(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [as_the_api_server_reads(v) for v in node]
    if isinstance(node, float) and math.isfinite(node) and node.is_integer():
        return int(node)
    return node


def parse_document(doc: Any, source: str = "<document>") -> FLProject | FLJob:
    doc = as_the_api_server_reads(doc)
    if not isinstance(doc, dict):
        raise SpecError(source, ["the document must be a mapping with apiVersion, kind, metadata, spec"])
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        what = "required field is missing" if kind is None else f"{short(kind)} is not one of FLProject, FLJob"
        raise SpecError(source, [f"kind: {what}"])
    if "apiVersion" not in doc:  # the API server cannot even route it; kubectl says "apiVersion not set"
        raise SpecError(source, ["apiVersion: required field is missing"])
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        label = f"{source} ({kind} {short(name)})" if isinstance(name, str) else f"{source} ({kind})"
        raise SpecError(label, problems_of(err)) from None


ResourceT = TypeVar("ResourceT", FLProject, FLJob)


def parse_resource(
    body: Mapping[str, Any], model: type[ResourceT], rules: Callable[[ResourceT], list[str]] | None = None
) -> ResourceT:
    """A custom resource as the API server stored it, checked by `rules` too (e.g. what cannot work on a
    cluster); SpecProblem names every problem (a spec problem is never fixed by retrying)."""
    try:
        parsed = parse_document(dict(body), model.__name__)
    except SpecError as err:
        raise SpecProblem("; ".join(err.problems)) from None
    if not isinstance(parsed, model):
        raise SpecProblem(f"kind: {parsed.kind} is not {model.__name__}")
    problems = rules(parsed) if rules is not None else []
    if problems:
        raise SpecProblem("; ".join(problems))
    return parsed


@dataclass(frozen=True)
class Bundle:
    """What one `flarekube run` invocation is about: one project and the jobs to run in it."""

    project: FLProject
    jobs: tuple[FLJob, ...]
    base_dir: Path  # relative local paths in the spec are resolved against the project file's folder
    # each FLJob's own file's folder, by metadata.name: a relative jobFolder.path is resolved against it
    job_dirs: dict[str, Path] = field(default_factory=dict)

    def job_dir(self, job: FLJob) -> Path:
        return self.job_dirs.get(job.metadata.name, self.base_dir)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a folder stands for its .yaml/.yml/.json files (sorted, not recursive); `-` is stdin."""
    out: list[Path] = []
    for path in paths:
        if path != STDIN and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in EXTENSIONS and p.is_file())
            if not files:
                raise SpecError(str(path), [f"the folder has no {', '.join(EXTENSIONS)} file"])
            out += files
        else:
            out.append(path)
    return out


def read_text(path: Path, stdin: IO[bytes] | None = None) -> str:
    """The file's text, read in bounded memory; a BOM is dropped, binary input is refused."""
    source = "<stdin>" if path == STDIN else str(path)
    try:
        if path == STDIN:
            data = (stdin or sys.stdin.buffer).read(MAX_INPUT_BYTES + 1)
        else:
            if not path.is_file():
                raise SpecError(source, ["file not found"])
            with path.open("rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise SpecError(source, [f"cannot be read: {err.strerror or err}"]) from None
    if len(data) > MAX_INPUT_BYTES:
        raise SpecError(source, [f"larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB (the API server's limit "
                                 "for one object); not a spec"])  # fmt: skip
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(source, [f"not a UTF-8 text file (byte {err.start} is not UTF-8); is it binary?"]) from None


def load_documents(paths: Iterable[Path], stdin: IO[bytes] | None = None) -> list[tuple[Path, FLProject | FLJob]]:
    out: list[tuple[Path, FLProject | FLJob]] = []
    for path in expand(paths):
        source = "<stdin>" if path == STDIN else str(path)
        text = read_text(path, stdin)
        try:
            docs = load_all(text)
        except yaml.YAMLError as err:
            raise SpecError(source, [f"not valid YAML: {err}"]) from None
        except RecursionError:
            raise SpecError(source, ["not valid YAML: nested too deeply"]) from None
        if not docs:
            raise SpecError(source, ["no document in it (empty input); expected an FLProject or FLJob"])
        for index, doc in enumerate(docs):
            label = source if len(docs) == 1 else f"{source}[document {index}]"
            out.append((path, parse_document(doc, label)))
    return out


def load_bundle(paths: Iterable[Path], stdin: IO[bytes] | None = None) -> Bundle:
    return bundle_of(load_documents(list(paths), stdin))


def bundle_of(docs: list[tuple[Path, FLProject | FLJob]]) -> Bundle:
    """The documents as one project and its jobs, cross-document rules checked."""
    projects = [(p, d) for p, d in docs if isinstance(d, FLProject)]
    jobs = [d for _, d in docs if isinstance(d, FLJob)]
    job_dirs = {d.metadata.name: Path.cwd() if p == STDIN else p.resolve().parent
                for p, d in docs if isinstance(d, FLJob)}  # fmt: skip
    if len(projects) != 1:
        found = ", ".join(d.metadata.name for _, d in projects) or "none"
        raise SpecError("input", [f"exactly one FLProject is needed, found {len(projects)} ({found})"])
    path, project = projects[0]
    assert isinstance(project, FLProject)
    for job in jobs:
        problems = cross_check(project, job)
        if problems:
            raise SpecError(f"FLJob {job.metadata.name}", problems)
    base_dir = Path.cwd() if path == STDIN else path.resolve().parent
    return Bundle(project=project, jobs=tuple(jobs), base_dir=base_dir, job_dirs=job_dirs)
