"""Root of the ``ml-connector`` command: registers each command group's Typer app.

Exit codes: 0 success, 1 failure, 2 bad usage or configuration, 3 ``run --wait``: the run
succeeded but a message was dead-lettered or delivery did not finish in time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from ml_connector import __version__
from ml_connector import logging as mlc_logging
from ml_connector.cli import (
    audit,
    companies,
    config,
    context,
    db,
    intacct,
    schedule,
    secrets,
    sim,
    slack,
)
from ml_connector.cli.backup import backup, restore
from ml_connector.cli.check import check
from ml_connector.cli.demo import demo
from ml_connector.cli.init import init
from ml_connector.cli.replay import replay
from ml_connector.cli.run import run_pipeline
from ml_connector.cli.serve import serve
from ml_connector.cli.status import status

app = typer.Typer(
    name="ml-connector",
    help="Finance events from Sage Intacct and Sage 100 into Slack, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class LogFormat(StrEnum):
    console = "console"
    json = "json"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.callback()
def options(
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="Logs readable in a terminal, or JSON lines (default: the config's)."),
    ] = None,
    log_level: Annotated[LogLevel | None, typer.Option(help="Least severe level logged.")] = None,
) -> None:
    """Finance events from Sage Intacct and Sage 100 into Slack, exactly once."""
    context.log_choice.format = None if log_format is None else log_format.value
    context.log_choice.level = None if log_level is None else log_level.value
    if log_format is not None or log_level is not None:
        mlc_logging.configure(
            context.log_choice.format or "console", context.log_choice.level or "info"
        )


app.command()(init)
app.command()(check)
app.command()(demo)
app.command()(replay)
app.command("run")(run_pipeline)
app.command()(serve)
app.command()(status)
app.command()(backup)
app.command()(restore)
app.add_typer(audit.app, name="audit")
app.add_typer(companies.app, name="companies")
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(schedule.app, name="schedule")
app.add_typer(secrets.app, name="secrets")
app.add_typer(sim.app, name="sim")
app.add_typer(slack.app, name="slack")
app.add_typer(intacct.app, name="intacct")


@app.command()
def version() -> None:
    """Print the ml-connector version."""
    typer.echo(__version__)


def main() -> None:
    app()
