"""``ml-connector serve``: the scheduler, pipeline runs, delivery and web server in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from ml_connector.cli.context import ConfigOption, handle_errors, load, run
from ml_connector.config_warnings import config_warnings
from ml_connector.logging import get_logger
from ml_connector.runtime.service import serve as serve_forever

log = get_logger("ml_connector.serve")


@handle_errors
def serve(
    config_path: ConfigOption = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="Upgrade an older database schema first (one process at a time, under a lock).",
        ),
    ] = False,
) -> None:
    """Run the service until SIGTERM or Ctrl-C; stops cleanly, losing nothing.

    Refuses a database older than this version unless --migrate (or database.auto_migrate).
    """
    config = load(config_path)
    for warning in config_warnings(config):
        log.warning("config warning", problem=warning)
    run(serve_forever(config, migrate=migrate))
