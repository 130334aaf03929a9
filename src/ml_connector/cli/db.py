"""``ml-connector db …``: see and apply the database schema migrations.

Exit codes of ``db check``: 0 current, 1 behind (run ``db upgrade``), 3 ahead (a newer version
wrote the database), 4 the master key at hand is not the one recorded, so provisioning scripts
and container entrypoints can branch on them.
"""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from ml_connector import __version__
from ml_connector.cli.context import (
    ConfigOption,
    console,
    err_console,
    handle_errors,
    load,
    run,
    say_waiting_for_migration,
)
from ml_connector.config import Config
from ml_connector.store import make_engine
from ml_connector.store.migrate import (
    SchemaState,
    ahead_error,
    migrate,
    revisions,
    schema_state,
)
from ml_connector.vault import load_keyring, recorded_fingerprint

app = typer.Typer(help="See and apply database schema migrations.", no_args_is_help=True)

EXIT_BEHIND = 1
EXIT_AHEAD = 3
EXIT_WRONG_KEY = 4


async def _state(config: Config) -> SchemaState:
    config.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.db_url)
    try:
        return await schema_state(engine)
    finally:
        await engine.dispose()


def _target(config: Config) -> str:
    return make_url(config.db_url).render_as_string(hide_password=True)


@app.command()
@handle_errors
def current(config_path: ConfigOption = None) -> None:
    """Print the database's schema revision and whether this version can use it."""
    config = load(config_path)
    state = run(_state(config))
    console.print(f"{_target(config)}: {state.describe()}", highlight=False)


@app.command()
@handle_errors
def history(config_path: ConfigOption = None) -> None:
    """List every migration this version knows, marking those the database has."""
    config = load(config_path)
    state = run(_state(config))
    applied = state.current is not None
    table = Table("revision", "applied", "description")
    for script in revisions():
        table.add_row(script.revision, "yes" if applied else "no", script.doc or "")
        if script.revision == state.current:
            applied = False
    console.print(table)
    if state.status == "ahead":
        err_console.print(str(ahead_error(state)), highlight=False)


@app.command()
@handle_errors
def upgrade(config_path: ConfigOption = None) -> None:
    """Apply the pending migrations (take a backup first: `ml-connector backup PATH`).

    Safe to run from several hosts at once: one migrates, the others wait and find nothing
    to do. A migration interrupted half-way is rolled back; run this again.
    """
    config = load(config_path)

    async def go() -> tuple[SchemaState, bool, SchemaState]:
        config.data_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(config.db_url)
        try:
            before = await schema_state(engine)
            changed = await migrate(engine, on_wait=say_waiting_for_migration)
            return before, changed, await schema_state(engine)
        finally:
            await engine.dispose()

    before, changed, after = run(go())
    if changed:
        console.print(
            f"[green]✓[/green] migrated {_target(config)} from {before.current or 'empty'} "
            f"to {after.current} ({len(before.pending)} migration(s))",
            highlight=False,
        )
    else:
        console.print(f"Nothing to do: {after.describe()}.", highlight=False)


@app.command()
@handle_errors
def check(config_path: ConfigOption = None) -> None:
    """Exit 0 if the schema is current, 1 if behind, 3 if a newer version wrote it, 4 wrong key.

    Also compares the master key at hand with the key fingerprint the database recorded.
    """
    config = load(config_path)

    async def go() -> tuple[SchemaState, str | None]:
        config.data_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(config.db_url)
        try:
            state = await schema_state(engine)
            recorded = None
            if state.status == "current":
                async with engine.connect() as conn:
                    recorded = await recorded_fingerprint(conn)
            return state, recorded
        finally:
            await engine.dispose()

    state, recorded = run(go())
    console.print(f"ml-connector {__version__}, {_target(config)}: {state.describe()}")
    if recorded is not None:
        ours = _key_fingerprints(config)
        where = "matches" if recorded in ours else "does NOT match"
        console.print(
            f"master key fingerprint recorded in the database: {recorded} "
            f"({where} the key at hand{'' if ours else ': no key found'})",
            highlight=False,
        )
    if recorded is not None and ours and recorded not in ours:
        err_console.print(
            f"The master key at hand (fingerprint {ours[0]}) cannot open this database's "
            "secrets: use the key whose fingerprint is recorded (MLC_MASTER_KEY or the key file)",
            highlight=False,
        )
        raise typer.Exit(EXIT_WRONG_KEY)
    if state.status == "behind":
        console.print("Run `ml-connector db upgrade` (after `ml-connector backup PATH`).")
        raise typer.Exit(EXIT_BEHIND)
    if state.status == "ahead":
        err_console.print(str(ahead_error(state)), highlight=False)
        raise typer.Exit(EXIT_AHEAD)


def _key_fingerprints(config: Config) -> list[str]:
    from ml_connector.errors import MasterKeyError

    try:
        return load_keyring(config.key_file).fingerprints
    except MasterKeyError:
        return []
