"""How much disk the database takes, for the status page.

SQLite: the database file plus its write-ahead log (``-wal``), as the file system reports
them — the WAL can be larger than the file between checkpoints, and both are what a backup
or a full disk sees. PostgreSQL: ``pg_total_relation_size`` (table, indexes and TOAST) of
our own tables in the schema we use, summed; not ``pg_database_size``, which would count
whatever else shares the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.store.tables import metadata

ALEMBIC_TABLE = "alembic_version"


@dataclass(frozen=True)
class DatabaseSize:
    backend: str  # sqlite | postgresql
    total_bytes: int
    parts: tuple[tuple[str, int], ...]  # ("file", n), ("wal", n) | ("tables", n)
    basis: str  # what was measured, in words

    def describe(self) -> str:
        """``12.3 MiB (file 10.1 MiB + WAL 2.2 MiB)``."""
        inner = " + ".join(f"{name} {format_bytes(size)}" for name, size in self.parts)
        return f"{format_bytes(self.total_bytes)} ({inner})" if inner else format_bytes(0)


def format_bytes(size: int) -> str:
    """Binary units, one decimal: ``0 B``, ``512 B``, ``1.5 KiB``, ``12.3 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


async def database_size(conn: AsyncConnection) -> DatabaseSize:
    if conn.dialect.name == "sqlite":
        return _sqlite_size(conn.engine.url.database)
    return await _postgres_size(conn)


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _sqlite_size(database: str | None) -> DatabaseSize:
    if not database or database == ":memory:":
        return DatabaseSize("sqlite", 0, (), "in-memory database")
    main, wal = _file_size(database), _file_size(database + "-wal")
    return DatabaseSize(
        "sqlite", main + wal, (("file", main), ("WAL", wal)), "SQLite file + write-ahead log"
    )


async def _postgres_size(conn: AsyncConnection) -> DatabaseSize:
    names = [*metadata.tables, ALEMBIC_TABLE]
    total = await conn.scalar(
        sa.text(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(:names)"
        ),
        {"names": names},
    )
    size = int(total or 0)
    return DatabaseSize(
        "postgresql",
        size,
        (("tables", size),),
        "pg_total_relation_size of ml-connector's tables (with indexes and TOAST) in its schema",
    )
