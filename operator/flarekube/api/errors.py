"""Turn pydantic errors into one line per problem, each starting with the field path.

`spec.sites[2].name: "Site_3" is not a DNS-1123 label` is what a user can act on; pydantic's
default text is not.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails


class SpecError(ValueError):
    """A document failed validation; `problems` holds one `path: message` line per error."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: invalid\n" + "\n".join(f"  {p}" for p in self.problems))


def field_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = part
        else:
            out += f".{part}"
    return out


SHORT = 60  # characters of a value an error message shows

# reprlib walks at most a few levels and items, so a value is cut BEFORE it is formatted: a YAML alias
# bomb (a tiny file that expands to billions of nodes) or a 10 MB string costs nothing here.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = SHORT, SHORT, SHORT


def short(value: Any, limit: int = SHORT) -> str:
    """A value as an error message shows it: strings in double quotes, at most `limit` characters."""
    if isinstance(value, str):
        text = f'"{value[: limit + 1]}"'
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # a value whose repr fails must not hide the error it is part of
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_short = short


def describe(error: ErrorDetails) -> str:
    kind = error["type"]
    message = error["msg"]
    # Tagged/union locations such as "function-after[...]" are pydantic internals, not fields.
    loc = [p for p in error["loc"] if not (isinstance(p, str) and ("[" in p and "]" in p))]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "extra_forbidden":
        message = "unknown field (check the spelling; fields are camelCase)"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "literal_error":
        message = f"{_short(error.get('input'))} is not allowed: {message.removeprefix('Input should be ')}"
    elif "input" in error and not isinstance(error.get("input"), dict | list):
        message = f"{_short(error['input'])}: {message}"
    path = field_path(loc)
    return f"{path}: {message}" if path else message


# pydantic reports a failed `str | int | float | bool` once per member, tagged with the member's name.
_SCALAR_TAGS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}


def problems_of(error: ValidationError) -> list[str]:
    lines: list[str | tuple[int | str, ...]] = []  # a tuple stands for a failed scalar union at that loc
    unions: dict[tuple[int | str, ...], tuple[object, list[str]]] = {}
    for e in error.errors(include_url=False):
        loc, tag = tuple(e["loc"][:-1]), e["loc"][-1] if e["loc"] else None
        if isinstance(tag, str) and tag in _SCALAR_TAGS:
            if loc not in unions:  # one line per field, where its first member error was
                unions[loc] = (e.get("input"), [])
                lines.append(loc)
            unions[loc][1].append(_SCALAR_TAGS[tag])
        else:
            lines.append(describe(e))
    out: list[str] = []
    for line in lines:
        if isinstance(line, tuple):
            value, kinds = unions[line]
            either = ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]
            line = f"{field_path(line)}: {_short(value)} must be {either}"
        out.append(line)
    return out


class SpecProblem(ValueError):
    """A spec that parses but cannot work as written (a cross-document rule, a cluster-only limit).

    Never fixed by retrying: the operator writes it to status and stops; the CLI prints it and exits.
    The message names the field."""
