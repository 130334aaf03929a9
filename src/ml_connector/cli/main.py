"""Root of the ``ml-connector`` command: registers each command group's Typer app.

Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import typer

from ml_connector import __version__
from ml_connector.cli import agent, audit, config, schedule, secrets, sim, slack
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

app.command()(init)
app.command()(check)
app.command()(demo)
app.command()(replay)
app.command("run")(run_pipeline)
app.command()(serve)
app.command()(status)
app.add_typer(audit.app, name="audit")
app.add_typer(config.app, name="config")
app.add_typer(schedule.app, name="schedule")
app.add_typer(secrets.app, name="secrets")
app.add_typer(sim.app, name="sim")
app.add_typer(agent.app, name="agent")
app.add_typer(slack.app, name="slack")


@app.command()
def version() -> None:
    """Print the ml-connector version."""
    typer.echo(__version__)


def main() -> None:
    app()
