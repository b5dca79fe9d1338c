"""`python -m flarekube` is the `flarekube` command."""

from flarekube.cli import app

app(prog_name="flarekube")
