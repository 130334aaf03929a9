"""A semaphore shared by every process through the ``request_slots`` table.

Intacct lets a company have only a few requests in flight (two on most tiers: research §4)
and answers the next with HTTP 429 / GW-0010. The limit is the company's, not a process's, so
the slots live in the database: a request first claims a free row (resource, slot) or one whose
hold has expired, and frees it when the answer has been read. A hold expires on its own after
``hold_seconds`` so that a crashed process cannot keep a slot.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

import ml_connector.intacct.gateway.metrics as metrics
from ml_connector import clock
from ml_connector.intacct.gateway.errors import TransportTransientError
from ml_connector.store.tables import request_slots


class Claim:
    """A held slot. ``linger`` keeps it taken for that many seconds after the request: a
    request we stopped waiting for may still be running at Intacct and still counts."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.linger = 0.0


class RequestSlots:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        limit: int = 2,
        hold_seconds: float = 330.0,
        wait_seconds: float = 600.0,
        now: Callable[[], float] = clock.now,
    ) -> None:
        if limit < 1:
            raise ValueError("the concurrent request limit must be at least 1")
        self._engine = engine
        self.limit = limit
        self._hold = hold_seconds
        self._wait = wait_seconds
        self._now = now
        self._prepared: set[str] = set()
        self._prefix = f"{socket.gethostname()}:{os.getpid()}"

    @asynccontextmanager
    async def hold(self, resource: str) -> AsyncIterator[Claim]:
        holder = f"{self._prefix}:{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        claim = Claim(await self._acquire(resource, holder))
        metrics.SLOT_WAIT_SECONDS.observe(time.monotonic() - started)
        try:
            yield claim
        finally:
            # Settle the slot even if the caller was cancelled mid-request.
            await asyncio.shield(self._settle(resource, claim, holder))

    async def holders(self, resource: str) -> list[str]:
        """Live holders of a resource's slots (for status pages and tests)."""
        table = request_slots
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(table.c.holder).where(
                    table.c.resource == resource,
                    table.c.holder.is_not(None),
                    table.c.expires_at > self._now(),
                )
            )
            return [row.holder for row in rows]

    async def _acquire(self, resource: str, holder: str) -> int:
        await self._prepare(resource)
        deadline = time.monotonic() + self._wait
        pause = 0.01
        while True:
            slot = await self._try_claim(resource, holder)
            if slot is not None:
                return slot
            if time.monotonic() >= deadline:
                raise TransportTransientError(
                    f"no free Intacct request slot for {resource} after {self._wait:.0f} s"
                )
            # Jittered so that waiting processes do not poll in step.
            await asyncio.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, 0.25)

    async def _try_claim(self, resource: str, holder: str) -> int | None:
        table = request_slots
        now = self._now()
        async with self._engine.begin() as conn:
            for slot in range(self.limit):
                claimed = await conn.execute(
                    sa.update(table)
                    .where(
                        table.c.resource == resource,
                        table.c.slot == slot,
                        sa.or_(table.c.holder.is_(None), table.c.expires_at <= now),
                    )
                    .values(holder=holder, expires_at=now + self._hold)
                )
                if claimed.rowcount == 1:
                    return slot
        return None

    async def _settle(self, resource: str, claim: Claim, holder: str) -> None:
        table = request_slots
        if claim.linger > 0:
            values: dict[str, object] = {"expires_at": self._now() + claim.linger}
        else:
            values = {"holder": None, "expires_at": None}
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(
                    table.c.resource == resource,
                    table.c.slot == claim.slot,
                    table.c.holder == holder,
                )
                .values(**values)
            )

    async def _prepare(self, resource: str) -> None:
        if resource in self._prepared:
            return
        rows = [{"resource": resource, "slot": slot} for slot in range(self.limit)]
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        async with self._engine.begin() as conn:
            await conn.execute(insert(request_slots).values(rows).on_conflict_do_nothing())
        self._prepared.add(resource)
