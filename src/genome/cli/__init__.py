"""The ``genome`` command: run the server and look at what it stores. One module per command group."""

from __future__ import annotations

import typer

from genome.cli.evaluations import evaluations_app
from genome.cli.models import models_app
from genome.cli.pipelines import pipelines_app, runs_app
from genome.cli.serve import serve
from genome.cli.users import tokens_app, users_app

__all__ = ["app"]

app = typer.Typer(
    help="Genome: model and evaluation stores, realtime explanations and pipelines for production ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.add_typer(models_app, name="models")
app.add_typer(evaluations_app, name="evaluations")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(runs_app, name="runs")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
