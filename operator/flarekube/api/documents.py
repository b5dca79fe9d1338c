"""Read FLProject/FLJob YAML (one or several files, multi-document) into typed models.

One entry point for the CLI and the tests; the operator receives the same dicts from the API
server and calls `parse_document` on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from flarekube.api.errors import SpecError, SpecProblem, problems_of
from flarekube.api.job import FLJob
from flarekube.api.project import FLProject
from flarekube.api.validation import cross_check

KINDS: dict[str, type[FLProject] | type[FLJob]] = {"FLProject": FLProject, "FLJob": FLJob}


def parse_document(doc: Any, source: str = "<document>") -> FLProject | FLJob:
    if not isinstance(doc, dict):
        raise SpecError(source, ["the document must be a mapping with apiVersion, kind, metadata, spec"])
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise SpecError(source, [f"kind: {kind!r} is not one of FLProject, FLJob"])
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        label = f"{source} ({kind} {name})" if name else f"{source} ({kind})"
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


def load_documents(paths: Iterable[Path]) -> list[tuple[Path, FLProject | FLJob]]:
    out: list[tuple[Path, FLProject | FLJob]] = []
    for path in paths:
        if not path.is_file():
            raise SpecError(str(path), ["file not found"])
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as err:
            raise SpecError(str(path), [f"not valid YAML: {err}"]) from None
        for index, doc in enumerate(docs):
            source = str(path) if len(docs) == 1 else f"{path}[document {index}]"
            out.append((path, parse_document(doc, source)))
    return out


def load_bundle(paths: Iterable[Path]) -> Bundle:
    docs = load_documents(list(paths))
    projects = [(p, d) for p, d in docs if isinstance(d, FLProject)]
    jobs = [d for _, d in docs if isinstance(d, FLJob)]
    if len(projects) != 1:
        found = ", ".join(d.metadata.name for _, d in projects) or "none"
        raise SpecError("input", [f"exactly one FLProject is needed, found {len(projects)} ({found})"])
    path, project = projects[0]
    assert isinstance(project, FLProject)
    for job in jobs:
        problems = cross_check(project, job)
        if problems:
            raise SpecError(f"FLJob {job.metadata.name}", problems)
    return Bundle(project=project, jobs=tuple(jobs), base_dir=path.resolve().parent)
