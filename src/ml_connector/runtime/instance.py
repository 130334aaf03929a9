"""Who is serving: SQLite allows one `serve` per database file, PostgreSQL any number.

With SQLite, two processes would each believe they own the channel pace and the WAL file;
an exclusive ``flock`` beside the database makes the second one stop with a clear message.
Every instance also registers in ``service_instances`` so `status` can show who is up.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.errors import StoreError
from ml_connector.store.tables import service_instances


class SingleInstanceLock:
    """An exclusive lock file next to an SQLite database, held while `serve` runs."""

    def __init__(self, database_url: str) -> None:
        database = make_url(database_url).database or ""
        self.path = Path(database + ".serve.lock") if database else None
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(
                f"another `ml-connector serve` ({holder}) is already using this SQLite "
                f"database; SQLite allows one serving process. Stop it, or move to "
                f"PostgreSQL (database_url) to run several."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


async def register(engine: AsyncEngine, instance_id: str) -> None:
    now = clock.now()
    async with engine.begin() as conn:
        await conn.execute(
            service_instances.insert().values(
                instance_id=instance_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                heartbeat_at=now,
            )
        )


async def heartbeat(engine: AsyncEngine, instance_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            service_instances.update()
            .where(service_instances.c.instance_id == instance_id)
            .values(heartbeat_at=clock.now())
        )


async def unregister(engine: AsyncEngine, instance_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            service_instances.delete().where(service_instances.c.instance_id == instance_id)
        )


async def live_instances(
    engine: AsyncEngine, within: float = 120.0
) -> list[tuple[str, str, int, float]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                service_instances.c.instance_id,
                service_instances.c.host,
                service_instances.c.pid,
                service_instances.c.heartbeat_at,
            ).where(service_instances.c.heartbeat_at >= clock.now() - within)
        )
        return [(r.instance_id, r.host, r.pid, r.heartbeat_at) for r in rows]
