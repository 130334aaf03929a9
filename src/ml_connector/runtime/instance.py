"""Who is serving: SQLite allows one `serve` per database file, PostgreSQL any number.

With SQLite, two processes would each believe they own the channel pace and the WAL file;
an exclusive ``flock`` beside the database makes the second one stop with a clear message.
Every instance also registers in ``service_instances`` so `status` can show who is up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.errors import StoreError
from ml_connector.store.tables import service_instances


class SingleInstanceLock:
    """An exclusive ``flock`` on the SQLite database file itself, held while `serve` runs.

    The lock belongs to the file, not to how a config spells its path: a symlink, a hard
    link, ``./data/../data/x.db`` or a bind mount all reach the same device and inode, and
    ``flock`` locks that inode, so a second `serve` on the same file is refused whatever URL
    it was given. SQLite itself uses POSIX ``fcntl`` locks, which ``flock`` does not touch;
    the descriptor stays open until every SQLite connection of this process is closed (a
    POSIX lock would be dropped if another descriptor of the file were closed while it is
    held). Who holds the lock is written beside the real file, in ``<db>.serve.lock``.
    """

    def __init__(self, database_url: str) -> None:
        database = make_url(database_url).database or ""
        in_memory = not database or database == ":memory:" or database.startswith("file::memory")
        self.database = None if in_memory else Path(database).resolve()
        self.path = (
            None
            if self.database is None
            else self.database.with_name(self.database.name + ".serve.lock")
        )
        self._fd: int | None = None

    def identity(self) -> tuple[int, int] | None:
        """(device, inode) of the database file while the lock is held."""
        if self._fd is None:
            return None
        info = os.fstat(self._fd)
        return info.st_dev, info.st_ino

    def acquire(self) -> None:
        if self.database is None or self.path is None:
            return
        self.database.parent.mkdir(parents=True, exist_ok=True)
        # An empty file is a valid empty SQLite database, so creating it here is harmless.
        fd = os.open(self.database, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = self.path.read_text(encoding="utf-8").strip() or "another process"
            except OSError:
                holder = "another process"
            raise StoreError(
                f"another `ml-connector serve` ({holder}) is already using this SQLite "
                f"database ({self.database}); SQLite allows one serving process. Stop it, or "
                f"move to PostgreSQL (database_url) to run several."
            ) from None
        self._fd = fd
        # Only a hint for the message above; the lock itself is held either way.
        with contextlib.suppress(OSError):
            self.path.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", "utf-8")

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


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
