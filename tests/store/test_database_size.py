"""The database size the status page shows: SQLite's file + WAL, PostgreSQL's own tables."""

from __future__ import annotations

import os

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.store.engine import is_sqlite
from ml_connector.store.size import DatabaseSize, database_size, format_bytes
from ml_connector.store.tables import slack_events


async def _size(engine: AsyncEngine) -> DatabaseSize:
    async with engine.connect() as conn:
        return await database_size(conn)


async def test_the_size_is_what_the_disk_or_postgresql_reports_and_grows(
    engine: AsyncEngine,
) -> None:
    before = await _size(engine)
    async with engine.begin() as conn:
        await conn.execute(
            slack_events.insert(),
            [{"event_id": f"Ev{n:08d}" + "x" * 80, "received_at": 1.0} for n in range(3000)],
        )
    after = await _size(engine)
    assert after.total_bytes > before.total_bytes > 0
    if is_sqlite(engine):
        path = engine.url.database
        assert path is not None
        parts = dict(after.parts)
        assert parts["file"] == os.stat(path).st_size
        assert parts["WAL"] == os.stat(path + "-wal").st_size
        assert after.total_bytes == parts["file"] + parts["WAL"]
        assert "write-ahead log" in after.basis
    else:
        assert after.backend == "postgresql" and "pg_total_relation_size" in after.basis
        assert dict(after.parts) == {"tables": after.total_bytes}


def test_sizes_are_written_in_binary_units() -> None:
    assert [format_bytes(n) for n in (0, 512, 1536, 12_897_484, 3 * 1024**3)] == [
        "0 B",
        "512 B",
        "1.5 KiB",
        "12.3 MiB",
        "3.0 GiB",
    ]
    size = DatabaseSize("sqlite", 1536 + 512, (("file", 1536), ("WAL", 512)), "x")
    assert size.describe() == "2.0 KiB (file 1.5 KiB + WAL 512 B)"
