"""The `flarekube` Typer app and what every command shares: exit codes, inputs, output formats, errors."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from flarekube.api import Bundle, SpecError, load_bundle, load_documents
from flarekube.api.documents import STDIN


class Exit(enum.IntEnum):
    """The exit codes of every command (also in `--help`, the README and docs/cli.md)."""

    OK = 0
    RUNTIME = 1  # the federation, a job, the cluster or the machine failed
    USAGE = 2  # the command line itself is wrong (click's own code for usage errors)
    INVALID = 3  # a document is invalid: every problem is named by its field path
    REFUSED = 4  # refused for safety: a new root CA or re-issued kits not asked for
    INTERRUPTED = 130  # 128 + the signal: Ctrl-C 130, SIGHUP 129, SIGTERM 143; everything was stopped first


EXIT_CODES = (
    "Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 invalid input, 4 refused for safety "
    "(new root CA / re-issued kits not asked for), 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM; "
    "everything started was stopped)."
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as dist_version

        typer.echo(f"flarekube {dist_version('flarekube')}")
        raise typer.Exit()


app = typer.Typer(
    help=(
        "flarekube: NVIDIA FLARE federations from one YAML — on this machine (`flarekube run`) "
        "or on Kubernetes (the operator).\n\n" + EXIT_CODES
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


# No hard wrapping when the output is a file or a pipe: a log line or a grep must see whole lines.
console = Console(soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


class Output(str, enum.Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="text (for people), json or yaml.")]
FilesArgument = Annotated[
    list[Path] | None,
    typer.Argument(metavar="FILE...", help="FLProject/FLJob YAML files or folders; - reads stdin.", show_default=False),
]
FilenameOption = Annotated[
    list[Path] | None,
    typer.Option("--filename", "-f", metavar="FILE", help="Like FILE... (kubectl style; repeatable; - is stdin)."),
]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR", help="Kits and run state, kept 0700 (default: ~/.local/state/flarekube/<metadata.name>)."
    ),
]
ReissueKitsOption = Annotated[
    bool, typer.Option(help="Re-issue kits when the server's name changed (same root CA); ports are config only.")
]
NewRootCAOption = Annotated[
    bool,
    typer.Option(help="Create a NEW root CA (project renamed or CA state lost). Every issued kit stops working."),
]


def fail(message: str, code: int = Exit.RUNTIME, output: Output = Output.text, **extra: Any) -> NoReturn:
    if output != Output.text:
        emit({"ok": False, "exitCode": int(code), "error": message, **extra}, output)
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(int(code))


def emit(data: Any, output: Output) -> None:
    """Machine output on stdout, nothing else mixed in."""
    if output == Output.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def inputs(files: list[Path] | None, filenames: list[Path] | None) -> list[Path]:
    given = [*(files or []), *(filenames or [])]
    if not given:
        fail("give at least one FILE (or -f FILE; - reads stdin)", Exit.USAGE)
    if given.count(STDIN) > 1:
        fail("stdin (-) can be read only once", Exit.USAGE)
    return given


def spec_error(error: SpecError, output: Output) -> NoReturn:
    fail(str(error), Exit.INVALID, output, source=error.source, problems=error.problems)


def load_bundle_or_fail(paths: list[Path], output: Output = Output.text) -> Bundle:
    try:
        return load_bundle(paths)
    except SpecError as error:
        spec_error(error, output)


def documents_of(paths: list[Path], output: Output = Output.text) -> list[Any]:
    try:
        return load_documents(paths)
    except SpecError as error:
        spec_error(error, output)


def workspace_dir(workspace: Path | None) -> Path | None:
    if workspace is not None and workspace.exists() and not workspace.is_dir():
        fail(f"--workspace: {workspace} exists and is not a folder", Exit.USAGE)
    return workspace
