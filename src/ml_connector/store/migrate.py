"""Alembic migrations, run programmatically on the async engine (no alembic.ini needed).

Nothing migrates behind the operator's back: commands compare the database's revision with
the code's (``require_current``) and only ``ml-connector db upgrade``, ``init``, ``demo`` and
``serve --migrate`` (or ``database.auto_migrate = true``) change the schema. Every upgrade runs
inside ``migration_transaction``, so replicas starting together migrate once, and in one
transaction, so a migration killed half-way leaves the database at its previous revision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import __version__
from ml_connector.errors import SchemaAheadError, SchemaBehindError
from ml_connector.store.migration_lock import migration_transaction

MIGRATIONS = Path(__file__).with_name("migrations")

SchemaStatus = Literal["current", "behind", "ahead"]


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def revisions() -> list[Script]:
    """Every migration this code knows, oldest first."""
    return list(reversed(list(_scripts().walk_revisions())))


def _read_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_read_revision)


@dataclass(frozen=True)
class SchemaState:
    """Where the database stands against this code's migrations."""

    current: str | None
    head: str
    pending: list[str]

    @property
    def status(self) -> SchemaStatus:
        if self.current == self.head:
            return "current"
        if self.current is not None and self.current not in known_revisions():
            return "ahead"
        return "behind"

    def describe(self) -> str:
        at = self.current or "none (an empty database)"
        if self.status == "current":
            return f"schema revision {at}, current"
        if self.status == "ahead":
            return (
                f"schema revision {at} is unknown to ml-connector {__version__}, whose newest "
                f"is {self.head}: a newer ml-connector has upgraded this database"
            )
        return f"schema revision {at}; this code needs {self.head} ({len(self.pending)} pending)"


def known_revisions() -> set[str]:
    return {script.revision for script in revisions()}


def state_at(current: str | None) -> SchemaState:
    order = [script.revision for script in revisions()]
    if current is None:
        pending = order
    elif current in order:
        pending = order[order.index(current) + 1 :]
    else:
        pending = []
    return SchemaState(current, head_revision(), pending)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    return state_at(await current_revision(engine))


def behind_error(state: SchemaState) -> SchemaBehindError:
    return SchemaBehindError(
        f"the database is at {state.describe()}. Back it up (`ml-connector backup PATH`), "
        "then run `ml-connector db upgrade`, or start `ml-connector serve --migrate` "
        "(or set `database.auto_migrate = true` in the config)"
    )


def ahead_error(state: SchemaState) -> SchemaAheadError:
    return SchemaAheadError(
        f"the database is at {state.describe()}. Run that newer version (or later); to go "
        "back to this one, restore the backup taken before the upgrade "
        "(`ml-connector restore ARCHIVE`). Nothing was changed"
    )


async def require_current(engine: AsyncEngine) -> SchemaState:
    """Refuse a database that is not at this code's head revision, saying what to do."""
    state = await schema_state(engine)
    if state.status == "behind":
        raise behind_error(state)
    if state.status == "ahead":
        raise ahead_error(state)
    return state


async def migrate(
    engine: AsyncEngine,
    *,
    target: str = "head",
    on_wait: Callable[[], None] | None = None,
) -> bool:
    """Bring the database to ``target`` (default: the newest revision); return whether it changed.

    Refuses a database written by a newer ml-connector. The revision is read again once the
    migration lock is held: a process that waited for another's migration finds nothing to do.
    """
    state = await schema_state(engine)
    if state.status == "ahead":
        raise ahead_error(state)
    if state.status == "current" and target == "head":
        return False

    def upgrade(connection: sa.Connection) -> bool:
        before = _read_revision(connection)
        if before is not None and before not in known_revisions():
            raise ahead_error(state_at(before))
        command.upgrade(alembic_config(connection), target)
        return _read_revision(connection) != before

    async with migration_transaction(engine, on_wait) as conn:
        return await conn.run_sync(upgrade)


async def prepare(
    engine: AsyncEngine,
    *,
    allow_migrate: bool,
    on_wait: Callable[[], None] | None = None,
) -> bool:
    """Make sure the schema fits this code: migrate if allowed, else refuse. True if migrated."""
    state = await schema_state(engine)
    if state.status == "current":
        return False
    if state.status == "ahead" or not allow_migrate:
        await require_current(engine)
    return await migrate(engine, on_wait=on_wait)
