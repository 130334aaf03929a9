from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.store import current_revision, head_revision, migrate
from ml_connector.store.tables import metadata


async def test_migrations_reach_head_and_match_tables(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()

    def diff(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrate_twice_changes_nothing(engine: AsyncEngine) -> None:
    assert await migrate(engine) is False
