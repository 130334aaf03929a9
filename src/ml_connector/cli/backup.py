"""``ml-connector backup PATH`` and ``restore ARCHIVE``: the database and config, key apart.

The archive records the master key's fingerprint, never the key: keep the key (the key file
or ``MLC_MASTER_KEY``) in a separate safe place. A restore refuses to run with a key other
than the one the archive was made with, before it changes anything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from ml_connector import backup as archive_ops
from ml_connector.cli.context import ConfigOption, console, handle_errors, load, run
from ml_connector.config import Config, resolve_path
from ml_connector.errors import BackupError, StoreError
from ml_connector.runtime.instance import SingleInstanceLock
from ml_connector.store import make_engine
from ml_connector.store.migrate import schema_state, state_at
from ml_connector.store.tables import secrets
from ml_connector.vault import CANARY, ENV_VAR, Keyring, load_keyring, recorded_fingerprint

KEY_APART = (
    "The master key is NOT in the backup: keep {where} (fingerprint {fingerprint}) "
    "in a separate safe place; without it the backup's secrets cannot be opened."
)


def _key_location(config: Config) -> str:
    return ENV_VAR if os.environ.get(ENV_VAR) else str(config.key_file)


@handle_errors
def backup(
    path: Annotated[
        Path, typer.Argument(help="Archive file to write, or a folder to write a dated one in.")
    ],
    config_path: ConfigOption = None,
) -> None:
    """Back up the database and the config (SQLite); for PostgreSQL, print the pg_dump line."""
    config = load(config_path)
    keyring = load_keyring(config.key_file)
    database = archive_ops.sqlite_path(config.db_url)
    if database is None:
        _postgres_backup(config, keyring, path)
        return
    result = archive_ops.backup_sqlite(database, config.source, keyring, path)
    console.print(f"[green]✓[/green] wrote {result.archive}", highlight=False)
    for label, value in archive_ops.describe(result.manifest).items():
        console.print(f"  {label}: {value}", highlight=False)
    console.print(
        KEY_APART.format(where=_key_location(config), fingerprint=result.manifest.key_fingerprint),
        highlight=False,
    )


def _postgres_backup(config: Config, keyring: Keyring, path: Path) -> None:
    async def fingerprints() -> tuple[str, str | None]:
        engine = make_engine(config.db_url)
        try:
            async with engine.connect() as conn:
                token = await conn.scalar(
                    sa.select(secrets.c.ciphertext).where(secrets.c.name == CANARY)
                )
                in_use = archive_ops.fingerprint_in_use(keyring, token)
                state = await schema_state(engine)
                recorded = await recorded_fingerprint(conn) if state.status == "current" else None
            return in_use, recorded
        finally:
            await engine.dispose()

    in_use, recorded = run(fingerprints())
    if recorded is not None and recorded != in_use:
        raise BackupError(
            f"the database records master key fingerprint {recorded}, but its secrets open "
            f"with the key of fingerprint {in_use}; run `ml-connector secrets rotate-key` "
            "to settle on one key before backing up"
        )
    out = path / archive_ops.archive_name().replace(".tar.gz", ".pgdump") if path.is_dir() else path
    console.print(
        "This config uses PostgreSQL; back it up with PostgreSQL's own tool (the password "
        "comes from PGPASSWORD or ~/.pgpass, never the command line):",
        highlight=False,
    )
    command = archive_ops.pg_dump_command(config.db_url, out)
    console.print(f"  {command}", highlight=False, markup=False)
    console.print(
        f"Keep the config file {config.source} with it. The key at hand opens the database "
        f"(fingerprint {in_use}, as recorded in the database).",
        highlight=False,
    )
    console.print(
        KEY_APART.format(where=_key_location(config), fingerprint=in_use), highlight=False
    )


@handle_errors
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive made by `ml-connector backup`.")],
    config_path: ConfigOption = None,
) -> None:
    """Restore a backup; refuses a key other than the archive's, and keeps what it replaces.

    With no config file yet (a new machine), the archived config is written first. Stop
    `serve` before restoring; afterwards run `ml-connector db check`.
    """
    config_file = resolve_path(config_path)
    with archive_ops.open_archive(archive) as opened:
        wrote_config = False
        if not config_file.exists():
            if opened.config is None:
                raise BackupError(
                    f"{config_file} does not exist and {archive} holds no config; "
                    "run `ml-connector init` first, then restore again"
                )
            config_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(opened.config, config_file)
            wrote_config = True
        config = load(config_file)
        database = archive_ops.sqlite_path(config.db_url)
        if database is None:
            raise BackupError(
                f"{config_file} uses PostgreSQL, and {archive} is an SQLite backup. Restore "
                "a PostgreSQL dump with: "
                f"{archive_ops.pg_restore_command(config.db_url, Path('DUMP'))} — then run "
                "`ml-connector db check`, which compares the key with the fingerprint the "
                "database recorded"
            )
        keyring = _keyring_or_none(config)
        key_hint = f"{config.key_file} (mode 0600) or {ENV_VAR}"
        archive_ops.check_key(opened.manifest, keyring, archive, key_hint)
        assert keyring is not None
        lock = SingleInstanceLock(config.db_url)
        try:
            lock.acquire()
        except StoreError as exc:
            raise BackupError(
                f"{exc} — stop the service before restoring (nothing was changed)"
            ) from None
        try:
            result = archive_ops.restore_sqlite(opened, keyring, database)
        finally:
            lock.release()
        kept_config = None
        if (
            not wrote_config
            and opened.config is not None
            and opened.config.read_bytes() != config_file.read_bytes()
        ):
            kept_config = config_file.with_name(config_file.name + ".from-backup")
            shutil.copyfile(opened.config, kept_config)
    console.print(f"[green]✓[/green] restored {result.database} from {archive}", highlight=False)
    for label, value in archive_ops.describe(result.manifest).items():
        console.print(f"  {label}: {value}", highlight=False)
    if wrote_config:
        console.print(f"  wrote the archived config to {config_file}", highlight=False)
    if kept_config is not None:
        console.print(
            f"  the archived config differs from {config_file}; it is in {kept_config} "
            "to compare (yours was left as it is)",
            highlight=False,
        )
    if result.previous is not None:
        console.print(f"  the database it replaced is kept as {result.previous}", highlight=False)
    if state_at(result.manifest.schema_revision).status == "behind":
        console.print(
            "The restored database is older than this version: run `ml-connector db upgrade`."
        )


def _keyring_or_none(config: Config) -> Keyring | None:
    """The key at hand, or None if there is none at all (a too-open file is still refused)."""
    if not os.environ.get(ENV_VAR) and not config.key_file.exists():
        return None
    return load_keyring(config.key_file)
