"""``ml-connector sim …``: run a simulator of an external system in the foreground."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a simulator (Slack, Sage Intacct) on a local port.", no_args_is_help=True)
