"""``ml-connector demo``: both pipelines end to end against local simulators, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ml_connector import logging as mlc_logging
from ml_connector.cli import context
from ml_connector.cli.context import console, handle_errors, run
from ml_connector.runtime.demo import run_demo


@handle_errors
def demo(
    keep_serving: Annotated[
        bool,
        typer.Option("--serve", help="Keep serving on short schedules while records arrive."),
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Keep the demo's config and data here (default: a temp dir)."),
    ] = None,
) -> None:
    """Start the simulators, run both pipelines, deliver, and print every posted message."""
    # The demo's own output is the point; logs only for problems unless asked for.
    choice = context.log_choice
    mlc_logging.configure(choice.format or "console", choice.level or "warning")
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    posted = run(run_demo(console, keep_serving=keep_serving, directory=directory))
    if posted == 0:
        raise typer.Exit(1)
