"""Posting messages again: one by id, a whole pipeline run, or every dead letter.

A replay is a new outbox row linked to the original (``replay_of``), so the audit trail
keeps both. Replaying something already delivered would post it twice in the channel, so
that needs ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.delivery.outbox import Status, enqueue
from ml_connector.store.tables import outbox


@dataclass(frozen=True)
class ReplayResult:
    original: int
    replay: int | None
    skipped: str | None = None


async def replay_one(conn: AsyncConnection, outbox_id: int, *, force: bool = False) -> ReplayResult:
    row = (await conn.execute(sa.select(outbox).where(outbox.c.id == outbox_id))).first()
    if row is None:
        return ReplayResult(outbox_id, None, "no such message")
    if row.status == Status.DELIVERED and not force:
        return ReplayResult(outbox_id, None, "already delivered (use --force to post it again)")
    if row.status in (Status.PENDING, Status.IN_FLIGHT, Status.UNKNOWN, Status.HELD):
        return ReplayResult(outbox_id, None, f"still {row.status}: it will be delivered")
    new_id = await enqueue(
        conn,
        workspace=row.workspace,
        channel=row.channel,
        message=row.message,
        dedupe_key=f"replay:{row.id}:{clock.now():.6f}",
        source=row.source,
        pipeline=row.pipeline,
        run_id=row.run_id,
        kind=row.kind,
        replay_of=row.id,
    )
    if row.status == Status.DEAD:
        # The original stays in the trail but no longer counts as a waiting dead letter.
        await conn.execute(
            outbox.update().where(outbox.c.id == row.id).values(status=Status.REPLAYED.value)
        )
    return ReplayResult(outbox_id, new_id)


async def replay_run(
    conn: AsyncConnection, run_id: int, *, force: bool = False
) -> list[ReplayResult]:
    ids = await conn.scalars(
        sa.select(outbox.c.id)
        .where(outbox.c.run_id == run_id, outbox.c.replay_of.is_(None))
        .order_by(outbox.c.id)
    )
    return [await replay_one(conn, i, force=force) for i in list(ids)]


async def replay_dead_letters(
    conn: AsyncConnection, *, pipeline: str | None = None
) -> list[ReplayResult]:
    query = sa.select(outbox.c.id).where(outbox.c.status == Status.DEAD.value)
    if pipeline is not None:
        query = query.where(outbox.c.pipeline == pipeline)
    ids = list(await conn.scalars(query.order_by(outbox.c.id)))
    return [await replay_one(conn, i) for i in ids]
