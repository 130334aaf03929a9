"""``ml-connector secrets …``: store, list, delete and re-key secrets.

Values are read from a hidden prompt or standard input, never from the command line, where
they would land in shell history and ``ps`` output.
"""

from __future__ import annotations

import os
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


@app.command("generate-key")
def generate_key() -> None:
    """Print a fresh master key (for MLC_MASTER_KEY); nothing is stored."""
    console.print(Fernet.generate_key().decode(), highlight=False, markup=False)


@app.command("rotate-key")
@handle_errors
def rotate_key(config_path: ConfigOption = None) -> None:
    """Re-encrypt every secret under a new master key, without stopping the service.

    With a key file: the new key is written beside the old one, everything is re-encrypted,
    then the old key is dropped; running services re-read the file when a secret no longer
    opens. With MLC_MASTER_KEY: first give every service "NEW,OLD" (`secrets generate-key`
    makes NEW), then run this to re-encrypt under NEW, then drop OLD.
    """
    config = load(config_path)
    env_keys = [k for k in os.environ.get(ENV_VAR, "").split(",") if k.strip()]
    if env_keys and len(env_keys) < 2:
        raise fail(
            f"{ENV_VAR} holds one key. Make a new one with `ml-connector secrets generate-key`, "
            f'set {ENV_VAR}="NEW,OLD" for every running service and here, then run this again',
            2,
        )

    async def rotate() -> int:
        async with open_store(config) as store:
            old = store.vault.keyring
            if env_keys:
                # Services already hold NEW,OLD: re-encrypt under NEW, the first key.
                return await store.vault.rotate(Keyring([old.keys[0]], ENV_VAR))
            new_key = Fernet.generate_key()
            write_key_file(config.key_file, [new_key, *old.keys])
            count = await store.vault.rotate(Keyring([new_key], "new key"))
            write_key_file(config.key_file, [new_key])
            load_keyring(config.key_file)
            return count

    count = run(rotate())
    console.print(f"[green]✓[/green] re-encrypted {count} values under the new master key")
    if env_keys:
        console.print(f"You can now set {ENV_VAR} to the first key alone.")
