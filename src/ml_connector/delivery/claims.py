"""Channel leases: one worker posts to a channel at a time, paced by a time in the database.

A channel is due when its ``next_post_at`` has passed, nobody holds a live lease on it, and it
has open messages. ``next_post_at`` carries every reason to wait — the pace, a 429's
Retry-After, the head message's backoff, the reconciliation budget — so one comparison
decides, and it holds across workers, processes and restarts.

Claims are compare-and-set updates, safe on both databases; on PostgreSQL the candidate rows
are also selected ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers do not queue behind
each other.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector.delivery.outbox import Status
from ml_connector.store.tables import channel_pacing, outbox, workspace_limits

ACTIVE = (Status.PENDING.value, Status.UNKNOWN.value, Status.IN_FLIGHT.value)


def _has_work() -> sa.Exists:
    """The channel row has a message waiting, in flight or unknown."""
    p = channel_pacing
    return (
        sa.select(outbox.c.id)
        .where(
            outbox.c.workspace == p.c.workspace,
            outbox.c.channel == p.c.channel,
            outbox.c.status.in_(ACTIVE),
        )
        .exists()
    )


async def claim_due_channels(
    conn: AsyncConnection,
    *,
    owner: str,
    now: float,
    lease_seconds: float,
    limit: int,
    exclude_workspaces: frozenset[str] = frozenset(),
    exclude_channels: frozenset[tuple[str, str]] = frozenset(),
) -> list[tuple[str, str]]:
    """Lease up to ``limit`` due channels to ``owner``; return them."""
    p = channel_pacing
    has_work = _has_work()
    candidates = (
        sa.select(p.c.workspace, p.c.channel)
        .where(
            p.c.next_post_at <= now,
            sa.or_(p.c.lease_owner.is_(None), p.c.lease_expires_at < now, p.c.lease_owner == owner),
            has_work,
        )
        .order_by(p.c.next_post_at)
        .limit(limit + len(exclude_channels))
    )
    if exclude_workspaces:
        candidates = candidates.where(p.c.workspace.not_in(exclude_workspaces))
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=p)
    rows = (await conn.execute(candidates)).all()
    claimed: list[tuple[str, str]] = []
    for workspace, channel in rows:
        if (workspace, channel) in exclude_channels or len(claimed) >= limit:
            continue
        result = await conn.execute(
            p.update()
            .where(
                p.c.workspace == workspace,
                p.c.channel == channel,
                sa.or_(
                    p.c.lease_owner.is_(None), p.c.lease_expires_at < now, p.c.lease_owner == owner
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + lease_seconds)
        )
        if result.rowcount == 1:
            claimed.append((workspace, channel))
    return claimed


async def renew_lease(
    conn: AsyncConnection, workspace: str, channel: str, owner: str, until: float
) -> bool:
    """Extend our lease; False means we lost it and must stop touching the channel."""
    result = await conn.execute(
        channel_pacing.update()
        .where(
            channel_pacing.c.workspace == workspace,
            channel_pacing.c.channel == channel,
            channel_pacing.c.lease_owner == owner,
        )
        .values(lease_expires_at=until)
    )
    return result.rowcount == 1


async def release_lease(conn: AsyncConnection, workspace: str, channel: str, owner: str) -> None:
    await conn.execute(
        channel_pacing.update()
        .where(
            channel_pacing.c.workspace == workspace,
            channel_pacing.c.channel == channel,
            channel_pacing.c.lease_owner == owner,
        )
        .values(lease_owner=None, lease_expires_at=None)
    )


async def release_all(conn: AsyncConnection, owner: str) -> int:
    result = await conn.execute(
        channel_pacing.update()
        .where(channel_pacing.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(result.rowcount)


async def reclaim_expired(conn: AsyncConnection, now: float) -> int:
    """Clear leases of dead workers (the next claim would take them anyway; this tidies)."""
    result = await conn.execute(
        channel_pacing.update()
        .where(channel_pacing.c.lease_owner.is_not(None), channel_pacing.c.lease_expires_at < now)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(result.rowcount)


async def next_post_at(conn: AsyncConnection, workspace: str, channel: str) -> float:
    value = await conn.scalar(
        sa.select(channel_pacing.c.next_post_at).where(
            channel_pacing.c.workspace == workspace, channel_pacing.c.channel == channel
        )
    )
    return float(value or 0.0)


async def set_next_post_at(
    conn: AsyncConnection,
    workspace: str,
    channel: str,
    when: float,
    *,
    paused_until: float | None = None,
) -> None:
    values: dict[str, float] = {"next_post_at": when}
    if paused_until is not None:
        values["paused_until"] = paused_until
    await conn.execute(
        channel_pacing.update()
        .where(channel_pacing.c.workspace == workspace, channel_pacing.c.channel == channel)
        .values(**values)
    )


async def earliest_due(conn: AsyncConnection, exclude_workspaces: frozenset[str]) -> float | None:
    """When the next channel becomes due, so an idle worker sleeps exactly that long."""
    p = channel_pacing
    has_work = _has_work()
    query = sa.select(sa.func.min(p.c.next_post_at)).where(has_work)
    if exclude_workspaces:
        query = query.where(p.c.workspace.not_in(exclude_workspaces))
    value = await conn.scalar(query)
    return None if value is None else float(value)


async def take_budget(
    conn: AsyncConnection, workspace: str, method: str, now: float, interval: float
) -> float | None:
    """Spend one call of a per-workspace method budget; None if spent, else when it frees up.

    conversations.history allows apps outside the Marketplace about one call a minute, for
    the whole workspace, so the budget lives in the database like the channel pace.
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(workspace_limits)
        .values(workspace=workspace, method=method, next_call_at=0.0)
        .on_conflict_do_nothing(index_elements=["workspace", "method"])
    )
    w = workspace_limits
    result = await conn.execute(
        w.update()
        .where(w.c.workspace == workspace, w.c.method == method, w.c.next_call_at <= now)
        .values(next_call_at=now + interval)
    )
    if result.rowcount == 1:
        return None
    value = await conn.scalar(
        sa.select(w.c.next_call_at).where(w.c.workspace == workspace, w.c.method == method)
    )
    return float(value or now)


async def push_budget(conn: AsyncConnection, workspace: str, method: str, until: float) -> None:
    """Slack said 429 on this method: nobody calls it again before ``until``."""
    w = workspace_limits
    await conn.execute(
        w.update()
        .where(w.c.workspace == workspace, w.c.method == method, w.c.next_call_at < until)
        .values(next_call_at=until)
    )
