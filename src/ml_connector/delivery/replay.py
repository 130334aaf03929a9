"""Posting messages again: one by id, a whole pipeline run, or every dead letter.

A replay is a new outbox row linked to the original (``replay_of``), so the audit trail
keeps both. Replaying something already delivered would post it twice in the channel, so
that needs ``force``. A replay may go to another channel (the original's was archived or
mistyped), and its message says it is a replay, so nobody counts an invoice twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.delivery.outbox import Status, enqueue
from ml_connector.store.retention import why_missing
from ml_connector.store.tables import outbox

REPLAY_BLOCK_ID = "mlc_replay_note"

# (workspace, channel, ts) -> a link to the posted message, when one can be made
Permalink = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class ReplayResult:
    original: int
    replay: int | None
    skipped: str | None = None
    channel: str | None = None


def replay_note(
    *,
    first_at: float,
    delivered_ts: str | None,
    link: str | None,
    channel: str,
    error: str | None,
) -> str:
    """The line a replayed message starts with (Slack mrkdwn; ``link`` is ours, not input)."""
    when = datetime.fromtimestamp(first_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    if delivered_ts is not None:
        where = f"<{link}|in <#{channel}>>" if link else f"in <#{channel}>"
        return f":repeat: Posted again; first posted {when} {where}."
    why = f" ({error})" if error else ""
    return f":repeat: Posted again; first tried {when} for <#{channel}>, not delivered{why}."


def mark_replayed(message: Mapping[str, Any], note: str) -> dict[str, Any]:
    """The message with ``note`` on top; a note from an earlier replay is replaced, not stacked."""
    blocks = [b for b in message.get("blocks") or [] if b.get("block_id") != REPLAY_BLOCK_ID]
    text = str(message["text"])
    previous = text.split("\n", 1)
    if previous[0].startswith(":repeat: Posted again;") and len(previous) == 2:
        text = previous[1]
    block = {
        "type": "context",
        "block_id": REPLAY_BLOCK_ID,
        "elements": [{"type": "mrkdwn", "text": note}],
    }
    return {"text": f"{note}\n{text}", "blocks": [block, *blocks] if blocks else []}


async def replay_one(
    conn: AsyncConnection,
    outbox_id: int,
    *,
    force: bool = False,
    channel: str | None = None,
    permalink: Permalink | None = None,
) -> ReplayResult:
    row = (await conn.execute(sa.select(outbox).where(outbox.c.id == outbox_id))).first()
    if row is None:
        return ReplayResult(outbox_id, None, await why_missing(conn, outbox_id))
    if row.status == Status.DELIVERED and not force:
        return ReplayResult(outbox_id, None, "already delivered (use --force to post it again)")
    if row.status in (Status.PENDING, Status.IN_FLIGHT, Status.UNKNOWN, Status.HELD):
        return ReplayResult(outbox_id, None, f"still {row.status}: it will be delivered")
    first = await _first_of(conn, row)
    ts = first.slack_ts if first.status == Status.DELIVERED else None
    note = replay_note(
        first_at=first.created_at,
        delivered_ts=ts,
        link=permalink(first.workspace, first.channel, ts) if permalink and ts else None,
        channel=first.channel,
        error=_reason(first.last_error),
    )
    target = channel or row.channel
    new_id = await enqueue(
        conn,
        workspace=row.workspace,
        channel=target,
        message=mark_replayed(row.message, note),
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
    return ReplayResult(outbox_id, new_id, channel=target)


async def _first_of(conn: AsyncConnection, row: sa.Row[Any]) -> sa.Row[Any]:
    """The first message of a replay chain: what the note refers to."""
    seen = {row.id}
    while row.replay_of is not None and row.replay_of not in seen:
        earlier = (
            await conn.execute(sa.select(outbox).where(outbox.c.id == row.replay_of))
        ).first()
        if earlier is None:
            break
        seen.add(earlier.id)
        row = earlier
    return row


def _reason(last_error: str | None) -> str | None:
    if not last_error:
        return None
    return last_error if len(last_error) <= 120 else last_error[:119] + "…"


async def replay_run(
    conn: AsyncConnection,
    run_id: int,
    *,
    force: bool = False,
    channel: str | None = None,
    permalink: Permalink | None = None,
) -> list[ReplayResult]:
    ids = await conn.scalars(
        sa.select(outbox.c.id)
        .where(outbox.c.run_id == run_id, outbox.c.replay_of.is_(None))
        .order_by(outbox.c.id)
    )
    return [
        await replay_one(conn, i, force=force, channel=channel, permalink=permalink)
        for i in list(ids)
    ]


async def replay_dead_letters(
    conn: AsyncConnection,
    *,
    pipeline: str | None = None,
    channel: str | None = None,
    permalink: Permalink | None = None,
) -> list[ReplayResult]:
    query = sa.select(outbox.c.id).where(outbox.c.status == Status.DEAD.value)
    if pipeline is not None:
        query = query.where(outbox.c.pipeline == pipeline)
    ids = list(await conn.scalars(query.order_by(outbox.c.id)))
    return [await replay_one(conn, i, channel=channel, permalink=permalink) for i in ids]
