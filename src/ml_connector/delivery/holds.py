"""Holding a workspace's messages while its installation is unusable, and resuming them.

A revoked token would otherwise burn every message's attempts and dead-letter the lot; held
messages keep their place and order and go out once the installation works again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.delivery.outbox import Status
from ml_connector.store.tables import outbox


async def hold_workspace(conn: AsyncConnection, workspace: str, reason: str) -> int:
    result = await conn.execute(
        outbox.update()
        .where(outbox.c.workspace == workspace, outbox.c.status == Status.PENDING.value)
        .values(status=Status.HELD.value, held_reason=reason)
    )
    return int(result.rowcount)


async def resume_workspace(conn: AsyncConnection, workspace: str) -> int:
    result = await conn.execute(
        outbox.update()
        .where(outbox.c.workspace == workspace, outbox.c.status == Status.HELD.value)
        .values(status=Status.PENDING.value, held_reason=None)
    )
    return int(result.rowcount)


async def held_workspaces(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        sa.select(outbox.c.workspace).where(outbox.c.status == Status.HELD.value).distinct()
    )
    return [r[0] for r in rows]


async def hold_reason(conn: AsyncConnection, workspace: str) -> str | None:
    """Why the workspace's messages are held (the reason recorded when it happened)."""
    reason = await conn.scalar(
        sa.select(outbox.c.held_reason)
        .where(outbox.c.workspace == workspace, outbox.c.status == Status.HELD.value)
        .limit(1)
    )
    return None if reason is None else str(reason)
