"""What became of a run's messages: the honest answer to "did it post?".

A run only queues; delivery happens later (in ``serve``, or in ``run --wait``). This reads
the outbox rows a run produced, so a command can say which were posted, which are still
waiting and which were refused, and why.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.delivery.outbox import Status
from ml_connector.store.tables import outbox


@dataclass(frozen=True)
class MessageOutcome:
    id: int
    channel: str
    status: str
    slack_ts: str | None
    last_error: str | None
    held_reason: str | None

    @property
    def why(self) -> str:
        return self.last_error or self.held_reason or "no reason recorded"


async def run_messages(conn: AsyncConnection, run_ids: Collection[int]) -> list[MessageOutcome]:
    """Every message the runs queued (replays aside), oldest first."""
    if not run_ids:
        return []
    rows = await conn.execute(
        sa.select(
            outbox.c.id,
            outbox.c.channel,
            outbox.c.status,
            outbox.c.slack_ts,
            outbox.c.last_error,
            outbox.c.held_reason,
        )
        .where(outbox.c.run_id.in_(list(run_ids)), outbox.c.replay_of.is_(None))
        .order_by(outbox.c.id)
    )
    return [MessageOutcome(*row) for row in rows]


def dead(messages: Collection[MessageOutcome]) -> list[MessageOutcome]:
    return [m for m in messages if m.status == Status.DEAD]


def count_by_status(messages: Collection[MessageOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.status] = counts.get(m.status, 0) + 1
    return counts
