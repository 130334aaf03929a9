"""Migrations as an operator meets them: upgrades keep data, run once, survive SIGKILL.

Each test runs on SQLite and (with MLC_TEST_POSTGRES_URL) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.errors import SchemaAheadError, SchemaBehindError
from ml_connector.store import make_engine
from ml_connector.store.migrate import (
    head_revision,
    migrate,
    prepare,
    require_current,
    revisions,
    schema_state,
)
from ml_connector.vault import Keyring, Vault, key_fingerprint, recorded_fingerprint

PROCESS = Path(__file__).with_name("migrate_process.py")
EARLIER = [script.revision for script in revisions()][:-1]


def _drop_everything(connection: sa.Connection) -> None:
    meta = sa.MetaData()
    meta.reflect(connection)
    meta.drop_all(connection)
    connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


async def reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_drop_everything)


def _value(column: sa.Column[Any], table: str, n: int) -> Any:
    """A value for any column type a migration may create, different for each row ``n``."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return n % 2 == 0
    if isinstance(kind, sa.Integer):
        return 1000 + n
    if isinstance(kind, sa.Float | sa.Numeric):
        return 1234.5 + n
    if isinstance(kind, sa.JSON):
        return {"row": n, "text": "Zahlung € — ü", "items": [1, 2.5, None]}
    if isinstance(kind, sa.String):
        text = f"{table}.{column.name}#{n}·é"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"{table}.{column.name}: add a value for column type {kind!r}")


def _fill(connection: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    """Two rows in every table, each column filled (also the nullable ones)."""
    meta = sa.MetaData()
    meta.reflect(connection)
    planted: dict[str, list[dict[str, Any]]] = {}
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        rows = [{c.name: _value(c, table.name, n) for c in table.columns} for n in (1, 2)]
        connection.execute(table.insert(), rows)
        planted[table.name] = rows
    return planted


def _missing(connection: sa.Connection, planted: dict[str, list[dict[str, Any]]]) -> list[str]:
    meta = sa.MetaData()
    meta.reflect(connection)
    problems: list[str] = []
    for name, rows in planted.items():
        if name not in meta.tables:
            problems.append(f"table {name} is gone")
            continue
        table = meta.tables[name]
        for row in rows:
            key = [table.c[c.name] == row[c.name] for c in table.primary_key.columns]
            found = connection.execute(sa.select(table).where(*key)).mappings().one_or_none()
            if found is None:
                problems.append(f"{name}: row {row} is gone")
                continue
            for column, value in row.items():
                if column in found and found[column] != value:
                    problems.append(f"{name}.{column}: {value!r} became {found[column]!r}")
    return problems


@pytest.mark.parametrize("revision", EARLIER)
async def test_a_database_at_every_earlier_revision_upgrades_with_its_data(
    engine: AsyncEngine, revision: str
) -> None:
    await reset(engine)
    assert await migrate(engine, target=revision) is True
    async with engine.begin() as conn:
        planted = await conn.run_sync(_fill)
    assert (await schema_state(engine)).status == "behind"
    assert await migrate(engine) is True
    assert (await require_current(engine)).current == head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_missing, planted) == []


async def test_the_key_fingerprint_is_recorded_for_a_database_from_before_fingerprints(
    engine: AsyncEngine,
) -> None:
    await reset(engine)
    await migrate(engine, target="0001")
    keyring = Keyring.generate()
    async with engine.begin() as conn:
        vault = Vault(engine, keyring)
        await conn.execute(
            sa.text("INSERT INTO secrets VALUES ('_vault.canary', :t, 0, 0)"),
            {"t": vault.encrypt("ml-connector")},
        )
    await migrate(engine)
    await vault.ensure_canary()
    async with engine.connect() as conn:
        assert await recorded_fingerprint(conn) == key_fingerprint(keyring.keys[0])
    # The recorded fingerprint is not the key: nothing of the key is in the table.
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT * FROM master_keys"))).all()
    assert keyring.keys[0].decode() not in repr(stored)


async def test_a_behind_database_is_refused_unless_migrating_is_allowed(
    engine: AsyncEngine,
) -> None:
    await reset(engine)
    await migrate(engine, target=EARLIER[-1])
    with pytest.raises(SchemaBehindError) as refused:
        await prepare(engine, allow_migrate=False)
    message = str(refused.value)
    assert "ml-connector db upgrade" in message and "--migrate" in message
    assert "backup" in message
    assert (await schema_state(engine)).current == EARLIER[-1]  # refused: nothing changed
    assert await prepare(engine, allow_migrate=True) is True
    assert await prepare(engine, allow_migrate=False) is False


async def test_a_database_newer_than_the_code_is_refused_and_left_alone(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("INSERT INTO cursors VALUES ('p', 's', '{\"at\": 1}', 5)"),
        )
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9000_future'"))
    for attempt in (
        prepare(engine, allow_migrate=True),
        prepare(engine, allow_migrate=False),
        migrate(engine),
        require_current(engine),
    ):
        with pytest.raises(SchemaAheadError) as refused:
            await attempt
        message = str(refused.value)
        assert "9000_future" in message and "newer ml-connector" in message
        assert "restore" in message and "Nothing was changed" in message
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == (
            "9000_future"
        )
        assert await conn.scalar(sa.text("SELECT count(*) FROM cursors")) == 1


def _process_args(engine: AsyncEngine, schema: str | None) -> list[str]:
    return [engine.url.render_as_string(hide_password=False), schema or "-"]


async def _spawn(args: list[str], go: Path, mode: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROCESS),
        *args,
        str(go),
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_three_processes_starting_together_migrate_once(
    database: Any, tmp_path: Path
) -> None:
    engine = database.engine()
    await reset(engine)
    go = tmp_path / "go"
    args = _process_args(engine, database.schema)
    procs = [await _spawn(args, go, "slow") for _ in range(3)]
    for _ in range(1200):  # all three imported and waiting at the start line
        if len(list(tmp_path.glob("go.ready.*"))) == 3:
            break
        await asyncio.sleep(0.05)
    go.touch()
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out))
    assert sorted(r["changed"] for r in results) == [False, False, True]
    if database.kind == "postgresql":
        # The two that did not migrate met the advisory lock and waited: without it both would
        # read "behind" and run the same CREATE TABLE. (On SQLite every transaction opens with
        # BEGIN IMMEDIATE, so a late reader already queues behind the migrator's write lock
        # and finds the schema current; the flock covers the readers that came earlier.)
        assert sum(r["waited"] for r in results) >= 1
    assert (await require_current(engine)).current == head_revision()


async def test_a_migration_killed_half_way_leaves_the_previous_revision_and_its_data(
    database: Any, tmp_path: Path
) -> None:
    engine = database.engine()
    await reset(engine)
    previous = EARLIER[-1]
    await migrate(engine, target=previous)
    async with engine.begin() as conn:
        planted = await conn.run_sync(_fill)
    go = tmp_path / "go"
    go.touch()
    proc = await _spawn(_process_args(engine, database.schema), go, "kill")
    await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -signal.SIGKILL
    await engine.dispose()  # as a new process would: nothing cached from before the kill
    state = await schema_state(engine)
    assert state.current == previous
    with pytest.raises(SchemaBehindError, match="ml-connector db upgrade"):
        await require_current(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_missing, planted) == []
    # The lock died with the process: the next upgrade runs at once and completes.
    assert await asyncio.wait_for(migrate(engine), 30) is True
    async with engine.connect() as conn:
        assert await conn.run_sync(_missing, planted) == []


def test_the_sqlite_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    from ml_connector.store.migration_lock import sqlite_lock_path

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert sqlite_lock_path(engine) == tmp_path / "x.db.migrate.lock"
