"""One migration at a time per database, whichever process or host starts it.

Several `serve` replicas starting together against one PostgreSQL would otherwise each read
"behind", each run the same ``CREATE TABLE`` and all but one fail half-way. PostgreSQL gets a
transaction-scoped advisory lock taken inside the migration's own transaction: it is released
by the commit, by the rollback, or by the server when the process dies (even under SIGKILL),
so a crashed migrator never leaves the lock held. The key is derived from the schema the
engine works in, so deployments sharing one database in different schemas do not wait for
each other.

SQLite gets an exclusive ``flock`` on a file beside the database; the kernel drops it when
the process dies. (The single-instance lock of `serve` is a different file with a different
job: it is held for the life of the service, this one only while migrating.)
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LOCK_NAMESPACE = "ml-connector migrations"


def advisory_key(schema: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` from the schema's name."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def sqlite_lock_path(engine: AsyncEngine) -> Path | None:
    """The lock file beside an SQLite database file; None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database + ".migrate.lock")


@asynccontextmanager
async def migration_transaction(
    engine: AsyncEngine, on_wait: Callable[[], None] | None = None
) -> AsyncIterator[AsyncConnection]:
    """A transaction that no other process's migration transaction overlaps.

    ``on_wait`` is called once if another process holds the lock, before waiting for it, so
    the caller can say why it is not starting yet.
    """
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            schema = await conn.scalar(sa.text("SELECT current_schema()"))
            key = advisory_key(str(schema))
            got = await conn.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
            if not got:
                if on_wait is not None:
                    on_wait()
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            yield conn
        return
    path = sqlite_lock_path(engine)
    async with _file_lock(path, on_wait), engine.begin() as conn:
        yield conn


@asynccontextmanager
async def _file_lock(path: Path | None, on_wait: Callable[[], None] | None) -> AsyncIterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            # Wait in a thread so the loop stays responsive; the kernel releases the flock if
            # its holder dies, so this wait ends even after a SIGKILL.
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
