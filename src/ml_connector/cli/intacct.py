"""``ml-connector intacct …``: set up Intacct's real-time triggers.

``trigger-secret`` issues the secret a plain HTTP POST trigger (or Smart Event) sends in a
header, stores it encrypted in the vault and prints it once, for pasting into Intacct;
``triggers`` prints the triggers to create (URL, events, body, header).
"""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from ml_connector.cli.context import (
    ConfigOption,
    console,
    handle_errors,
    issued_console,
    load,
    open_store,
    run,
)
from ml_connector.intacct.trigger_auth import secret_name
from ml_connector.intacct.trigger_definitions import describe, trigger_connection

app = typer.Typer(help="Sage Intacct set-up: real-time triggers.", no_args_is_help=True)
SECRET_BYTES = 32


@app.command("trigger-secret")
@handle_errors
def trigger_secret(
    connection: Annotated[str, typer.Argument(help="An intacct connection with triggers.")],
    config_path: ConfigOption = None,
) -> None:
    """Issue a new trigger secret (the old one stops working), store it encrypted, print it."""
    config = load(config_path)
    settings = trigger_connection(config, connection).triggers
    assert settings is not None
    value = secrets.token_urlsafe(SECRET_BYTES)

    async def store_it() -> None:
        async with open_store(config) as store:
            await store.vault.set(secret_name(connection), value)

    run(store_it())
    issued_console.print(
        f"Stored the trigger secret of {connection} (encrypted). In each Intacct trigger add "
        f"the header:\n\n{settings.secret_header}: {value}\n\nIt is not shown again; run this "
        "command once more to replace it.",
        highlight=False,
        markup=False,
    )


@app.command("triggers")
@handle_errors
def triggers(
    connection: Annotated[str, typer.Argument(help="An intacct connection with triggers.")],
    config_path: ConfigOption = None,
) -> None:
    """Print the triggers to create in Intacct: URL, events, body template, secret header."""
    config = load(config_path)
    console.print(describe(config, connection), highlight=False, markup=False)
