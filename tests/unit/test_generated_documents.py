"""Generated hostile documents (hypothesis): any value at any field of a valid FLProject/FLJob, and arbitrary
bytes as YAML. The loader either accepts or raises SpecError — never another exception — with short lines,
the first naming the changed field (or one of its parents), in bounded time."""

from __future__ import annotations

import copy
import io
from typing import Any

from flarekube.api import SpecError, parse_document
from flarekube.api.documents import STDIN, load_documents
from flarekube.api.errors import field_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.speccases import job, project

Path_ = tuple[int | str, ...]


def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    out: list[Path_] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


BASES = {"FLProject": project(), "FLJob": job()}
TARGETS = [(kind, p) for kind, doc in BASES.items() for p in paths(doc) if p[0] not in ("kind",)]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.sampled_from(["2", "true", "yes", "8002", "0x10", "1e3", "-", "Site_1", "a" * 100_000, "\x00", "💥"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
)


def _set(doc: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _leading_path(problem: str) -> str:
    head, sep, _ = problem.partition(": ")
    return head if sep and " " not in head else ""


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(TARGETS), value=VALUES, extra_key=st.booleans())
def test_any_value_anywhere_is_accepted_or_refused_naming_the_field(
    target: tuple[str, Path_], value: Any, extra_key: bool
) -> None:
    kind, path = target
    doc = copy.deepcopy(BASES[kind])
    if extra_key and isinstance(value, str) and value and isinstance(path[-1], str):
        path = (*path[:-1], value[:40])  # an unknown key instead of a changed value
        value = 1
    _set(doc, path, value)
    try:
        parse_document(doc)
    except SpecError as error:
        assert error.problems
        assert all(len(p) < 600 for p in error.problems), [len(p) for p in error.problems]
        changed = field_path(path)
        named = [_leading_path(p) for p in error.problems]
        # the field itself, a parent (a rule over several fields) or a child (a required field in a new value)
        assert any(changed.startswith(n) or n.startswith(changed) for n in named if n) or "" in named, (changed, named)


@settings(max_examples=300, deadline=2000)
@given(data=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode)))
def test_arbitrary_bytes_never_escape_as_anything_but_a_spec_error(data: bytes) -> None:
    try:
        load_documents([STDIN], stdin=io.BytesIO(data))
    except SpecError as error:
        assert all(len(p) < 2000 for p in error.problems)


@settings(max_examples=100, deadline=2000)
@given(keys=st.lists(st.sampled_from(["name", "org", "gpus"]), min_size=2, max_size=4))
def test_a_repeated_key_is_always_refused(keys: list[str]) -> None:
    site = "".join(f"    {k}: x\n" for k in keys)
    text = f"apiVersion: flarekube.io/v1alpha1\nkind: FLProject\nmetadata: {{name: p}}\nspec:\n  sites:\n  -\n{site}"
    repeated = len(set(keys)) < len(keys)
    try:
        load_documents([STDIN], stdin=io.BytesIO(text.encode()))
    except SpecError as error:
        assert ("duplicate key" in str(error)) == repeated, str(error)
        return
    assert not repeated, "a repeated key was accepted"
