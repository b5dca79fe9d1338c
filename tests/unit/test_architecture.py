"""The rooms of operator/flarekube/ and workloads/ keep their import rules (docs/architecture.md).

Read from the source with `ast` (nothing is imported), so it is fast and sees imports under
`if TYPE_CHECKING`, inside functions and through `importlib.import_module("...")` too. Every rule is
also fed a small synthetic module that breaks it, so none of them is a check that cannot fail.
Run: `pytest tests/unit/test_architecture.py` (part of `make unit`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"operator": REPO / "operator", "workloads": REPO / "workloads"}  # folders on the import path
MAX_LINES = 400
PROJECT = ("flarekube", "flarekube_workloads")


@dataclass(frozen=True)
class Module:
    path: str  # relative to the repo, e.g. operator/flarekube/api/job.py
    name: str  # dotted, e.g. flarekube.api.job
    source: str


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.detail}"


def module_name(path: str) -> tuple[str, bool]:
    """(dotted name, is a package) of a repo-relative path under operator/ or workloads/."""
    parts = Path(path).with_suffix("").parts[1:]  # drop the import-path folder
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def within(name: str, *prefixes: str) -> bool:
    """`name` is one of `prefixes` or a submodule of one (flarekube_workloads is not within flarekube)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports(module: Module, tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of everything the module imports; `from a import b` gives `a.b`."""
    name, is_package = module_name(module.path)
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                yield node.lineno, source if alias.name == "*" else f"{source}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


# A rule: (module, its imports) -> violations. Each names what it forbids in its detail.
Rule = Callable[[Module, list[tuple[int, str]]], Iterator[Violation]]


def api_is_the_contract(m: Module, found: list[tuple[int, str]]) -> Iterator[Violation]:
    if within(m.name, "flarekube.api"):
        for line, name in found:
            if within(name, *PROJECT) and not within(name, "flarekube.api"):
                yield Violation(m.path, line, "api", f"imports {name}: flarekube/api/ imports nothing of the project")


def builders_and_status_are_pure(m: Module, found: list[tuple[int, str]]) -> Iterator[Violation]:
    if within(m.name, "flarekube.builders", "flarekube.status"):
        for line, name in found:
            if within(name, "kubernetes", "kopf", "flarekube.kube", "flarekube.controller", "flarekube.handlers"):
                yield Violation(m.path, line, "pure", f"{m.name} imports {name}: builders/ and status/ are pure "
                                "(no kubernetes, kopf, flarekube.kube, .controller, .handlers)")


def kubernetes_only_in_kube(m: Module, found: list[tuple[int, str]]) -> Iterator[Violation]:
    if not within(m.name, "flarekube.kube"):
        for line, name in found:
            if within(name, "kubernetes"):
                yield Violation(m.path, line, "kubernetes", f"imports {name}: only flarekube/kube/ talks to Kubernetes")


def workloads_do_not_import_the_operator(m: Module, found: list[tuple[int, str]]) -> Iterator[Violation]:
    if m.path.startswith("workloads/"):
        for line, name in found:
            if within(name, "flarekube"):
                yield Violation(m.path, line, "workloads", f"imports {name}: workloads/ never imports the operator")


def kopf_only_in_handlers(m: Module, found: list[tuple[int, str]]) -> Iterator[Violation]:
    if not within(m.name, "flarekube.handlers", "flarekube.operator_main"):
        for line, name in found:
            if within(name, "kopf"):
                yield Violation(m.path, line, "kopf",
                                f"imports {name}: only flarekube/handlers/ and flarekube/operator_main.py use kopf")


RULES: dict[str, Rule] = {
    "api": api_is_the_contract,
    "pure": builders_and_status_are_pure,
    "kubernetes": kubernetes_only_in_kube,
    "workloads": workloads_do_not_import_the_operator,
    "kopf": kopf_only_in_handlers,
}


def check(path: str, source: str) -> list[Violation]:
    """Every violation of every rule (and of the size limit) in one module's source."""
    module = Module(path, module_name(path)[0], source)
    lines = len(source.splitlines())
    found: list[Violation] = []
    if lines > MAX_LINES:
        found.append(Violation(path, lines, "size", f"{lines} lines: a module has at most {MAX_LINES}"))
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        return [*found, Violation(path, err.lineno or 0, "parse", f"does not parse: {err.msg}")]
    imported = list(imports(module, tree))
    for rule in RULES.values():
        found.extend(rule(module, imported))
    return found


def project_modules() -> list[tuple[str, str]]:
    return [(str(p.relative_to(REPO)), p.read_text()) for root in ROOTS.values() for p in sorted(root.rglob("*.py"))
            if "__pycache__" not in p.parts]


@pytest.fixture(scope="module")
def violations() -> list[Violation]:
    modules = project_modules()
    assert len(modules) > 20, f"found only {len(modules)} modules under {', '.join(ROOTS)}"
    return [v for path, source in modules for v in check(path, source)]


@pytest.mark.parametrize("rule", [*RULES, "size", "parse"])
def test_the_rooms_keep_their_rules(violations: list[Violation], rule: str) -> None:
    broken = [str(v) for v in violations if v.rule == rule]
    assert not broken, f"{len(broken)} violation(s) of rule {rule!r} (docs/architecture.md):\n" + "\n".join(broken)


# (rule, path, source, line): a module that breaks the rule, and the line that must be named.
BROKEN = [
    ("api", "operator/flarekube/api/job.py", "from flarekube.builders import workloads\n", 1),
    ("api", "operator/flarekube/api/job.py", "import pydantic\nfrom .. import naming\n", 2),
    ("api", "operator/flarekube/api/__init__.py", "from flarekube_workloads import contract\n", 1),
    ("pure", "operator/flarekube/builders/site.py", "from kubernetes import client\n", 1),
    ("pure", "operator/flarekube/status/job.py", "from ..kube import observe\n", 1),
    ("pure", "operator/flarekube/builders/x.py", "def f() -> None:\n    from flarekube.controller import job\n", 2),
    ("pure", "operator/flarekube/status/x.py", "import flarekube.handlers.job\n", 1),
    ("kubernetes", "operator/flarekube/flare.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kubernetes.client import ApiClient\n", 3),
    ("kubernetes", "operator/flarekube/controller/project.py", "import kubernetes\n", 1),
    ("kubernetes", "workloads/flarekube_workloads/x.py", "import importlib\nimportlib.import_module('kubernetes')\n",
     2),
    ("workloads", "workloads/flarekube_workloads/tabular/job.py", "from flarekube.api import FLJob\n", 1),
    ("kopf", "operator/flarekube/controller/job.py", "import kopf\n", 1),
    ("kopf", "operator/flarekube/kube/apply.py", "from kopf import TemporaryError\n", 1),
    ("size", "operator/flarekube/cli.py", "x = 1\n" * (MAX_LINES + 1), MAX_LINES + 1),
    ("parse", "operator/flarekube/cli.py", "def (\n", 1),
]

# Modules that the rules must leave alone.
ALLOWED = [
    ("operator/flarekube/api/__init__.py", "from . import job\nfrom .job import FLJob\nimport pydantic\n"),
    ("operator/flarekube/api/job.py", "from flarekube.api.errors import SpecError\nfrom .common import cel\n"),
    ("operator/flarekube/kube/apply.py", "from kubernetes import client\nfrom flarekube.builders import site\n"),
    ("operator/flarekube/kube/__init__.py", "from .. import naming\nimport kubernetes.client\n"),
    ("operator/flarekube/handlers/job.py", "import kopf\nfrom flarekube.controller import job\n"),
    ("operator/flarekube/operator_main.py", "import kopf\n"),
    ("operator/flarekube/builders/workloads.py",
     "from flarekube_workloads.contract import KINDS\nfrom ..api import FLJob\n"),
    ("workloads/flarekube_workloads/contract.py", "import flarekube_workloads.auc\nfrom . import reporting\n"),
    ("operator/flarekube/cli.py", "x = 1\n" * MAX_LINES),
]


@pytest.mark.parametrize(("rule", "path", "source", "line"), BROKEN)
def test_each_rule_can_fail(rule: str, path: str, source: str, line: int) -> None:
    found = [v for v in check(path, source) if v.rule == rule]
    assert [(v.path, v.line) for v in found] == [(path, line)], check(path, source)
    assert str(found[0]).startswith(f"{path}:{line}: [{rule}] ")


@pytest.mark.parametrize(("path", "source"), ALLOWED)
def test_allowed_imports_pass(path: str, source: str) -> None:
    assert check(path, source) == []
