"""``ml-connector secrets …``: store, list, delete and re-key secrets.

Values are read from a hidden prompt or standard input, never from the command line, where
they would land in shell history and ``ps`` output.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from cryptography.fernet import Fernet
from rich.table import Table

from ml_connector.cli.context import (
    ConfigOption,
    console,
    fail,
    handle_errors,
    load,
    open_store,
    run,
)
from ml_connector.vault import ENV_VAR, Keyring, check_name, load_keyring, write_key_file

app = typer.Typer(help="Store and manage secrets (encrypted at rest).", no_args_is_help=True)


def read_value(name: str) -> str:
    if sys.stdin.isatty():
        value = str(typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True))
    else:
        value = sys.stdin.read()
    value = value.rstrip("\r\n")
    if not value:
        raise fail(f"no value given for {name}", 2)
    return value


@app.command("set")
@handle_errors
def set_secret(
    name: Annotated[str, typer.Argument(help="Secret name, as referenced in the config.")],
    config_path: ConfigOption = None,
) -> None:
    """Store a secret; the value comes from a hidden prompt or standard input."""
    check_name(name)
    config = load(config_path)
    value = read_value(name)

    async def store_it() -> None:
        async with open_store(config) as store:
            await store.vault.set(name, value)

    run(store_it())
    console.print(f"[green]✓[/green] stored secret {name}", highlight=False)


@app.command("list")
@handle_errors
def list_secrets(config_path: ConfigOption = None) -> None:
    """List secret names and when they were last updated (never their values)."""
    config = load(config_path)

    async def names() -> list[tuple[str, float]]:
        async with open_store(config) as store:
            return [(info.name, info.updated_at) for info in await store.vault.list()]

    rows = run(names())
    table = Table("name", "updated")
    for name, updated in rows:
        table.add_row(name, datetime.fromtimestamp(updated).isoformat(" ", "seconds"))
    console.print(table if rows else "No secrets stored.")


@app.command("delete")
@handle_errors
def delete_secret(name: str, config_path: ConfigOption = None) -> None:
    """Delete a secret."""
    config = load(config_path)

    async def delete() -> bool:
        async with open_store(config) as store:
            return await store.vault.delete(name)

    if not run(delete()):
        raise fail(f"no secret named {name!r}")
    console.print(f"[green]✓[/green] deleted secret {name}", highlight=False)


@app.command("rotate-key")
@handle_errors
def rotate_key(config_path: ConfigOption = None) -> None:
    """Re-encrypt every secret under a new master key, without stopping the service.

    With a key file, the new key is written first beside the old one, everything is
    re-encrypted, then the old key is dropped; running services re-read the file. With
    MLC_MASTER_KEY, the new key is printed: set it (as "NEW,OLD" during the change-over).
    """
    import os

    config = load(config_path)
    new_key = Fernet.generate_key()

    async def rotate() -> int:
        async with open_store(config) as store:
            old = store.vault.keyring
            from_env = bool(os.environ.get(ENV_VAR))
            if not from_env:
                write_key_file(config.key_file, [new_key, *old.keys])
            count = await store.vault.rotate(Keyring([new_key], "new key"))
            if not from_env:
                write_key_file(config.key_file, [new_key])
                load_keyring(config.key_file)
            return count

    count = run(rotate())
    console.print(f"[green]✓[/green] re-encrypted {count} values under a new master key")
    if os.environ.get(ENV_VAR):
        console.print(f"Set {ENV_VAR} to the new key (shown once):")
        console.print(new_key.decode(), highlight=False, markup=False)
