"""The trigger tables: deliveries already accepted, and the queue of targeted reads.

Accepting a delivery is one transaction: its idempotency key is recorded and a read is queued
for each record it names, so once Intacct has its 200 nothing is lost, and a retry (Intacct
repeats the key, developer.sage.com …/guides/webhooks: "retries will contain the same key")
finds the key and adds nothing, whichever process receives it. The primary key (connection,
idempotency key) and the unique token id decide on both databases, without locks held.

A record's queue row coalesces its events: the first event sets ``due_at`` a few seconds
ahead, later ones only count, so a burst for one batch becomes one read. An event that arrives
while a worker is reading the record sets ``again_at``: the worker queues the record once more
when it finishes, since what it read may predate that change.

Claims are compare-and-set updates (on PostgreSQL the candidates are selected ``FOR UPDATE
SKIP LOCKED`` first, as ``delivery.claims`` does for channels): each row is read by one worker
at a time, and a crashed worker's claim expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector.intacct.trigger_auth import Verified
from ml_connector.intacct.trigger_events import RecordRef
from ml_connector.schedule.fire_slots import insert_if_absent
from ml_connector.store.group_commit import GroupCommit, Waiting
from ml_connector.store.tables import intacct_trigger_events, intacct_trigger_reads

# Keys are kept at least this long: Intacct's retries span 10 + 30 + 90 s.
KEEP_KEYS = 86_400.0

Accepted = Literal["accepted", "duplicate", "replayed"]


@dataclass(frozen=True)
class Delivery:
    connection: str
    idempotency_key: str
    body_digest: str
    verified: Verified


@dataclass(frozen=True)
class QueuedRead:
    connection: str
    ref: RecordRef
    events: int
    first_event_at: float
    attempts: int


async def accept(
    engine: AsyncEngine,
    delivery: Delivery,
    refs: Sequence[RecordRef],
    *,
    now: float,
    coalesce: float,
) -> Accepted:
    """Record the delivery and queue its reads, unless it was seen (a retry) or its
    credential was used before for another delivery (a replay)."""
    async with engine.begin() as conn:
        return await _accept(conn, delivery, refs, now=now, coalesce=coalesce)


async def _accept(
    conn: AsyncConnection,
    delivery: Delivery,
    refs: Sequence[RecordRef],
    *,
    now: float,
    coalesce: float,
) -> Accepted:
    verified = delivery.verified
    values: dict[str, object] = {
        "connection": delivery.connection,
        "idempotency_key": delivery.idempotency_key,
        "token_id": verified.token_id,
        "form": verified.form,
        "body_digest": delivery.body_digest,
        "received_at": now,
        "expires_at": max(verified.expires_at, now + KEEP_KEYS),
    }
    if not await insert_if_absent(conn, intacct_trigger_events, values):
        return await _seen_before(conn, delivery)
    for ref in refs:
        await _queue(conn, delivery.connection, ref, now=now, coalesce=coalesce)
    return "accepted"


@dataclass(frozen=True)
class _Offered:
    delivery: Delivery
    refs: Sequence[RecordRef]
    now: float
    coalesce: float


class AcceptQueue:
    """Accepts deliveries group-committed (``store.group_commit``): one writer takes every
    delivery that arrived while the previous transaction ran and accepts them all in one.

    On SQLite every write takes the one database lock, so a burst of deliveries (a posted
    batch sends one per line, concurrently) would otherwise queue transaction behind
    transaction and miss the one-second answer; one transaction for the burst does not.
    Deliveries of one batch are accepted in arrival order, so two copies of one key in a
    batch are an accepted one and a duplicate, as across batches.
    """

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 200) -> None:
        self._engine = engine
        self._commits: GroupCommit[_Offered, Accepted] = GroupCommit(
            self._write,
            max_batch=max_batch,
            task_name="intacct-trigger-accepts",
            stopped="the trigger intake is not running",
            failed="cannot record trigger deliveries",
        )

    def start(self) -> None:
        self._commits.start()

    async def close(self) -> None:
        await self._commits.close()

    async def accept(
        self, delivery: Delivery, refs: Sequence[RecordRef], *, now: float, coalesce: float
    ) -> Accepted:
        return await self._commits.submit(_Offered(delivery, refs, now, coalesce))

    async def _write(self, batch: Sequence[Waiting[_Offered, Accepted]]) -> list[Accepted]:
        results: list[Accepted] = []
        async with self._engine.begin() as conn:
            for waiting in batch:
                item = waiting.item
                results.append(
                    await _accept(
                        conn, item.delivery, item.refs, now=item.now, coalesce=item.coalesce
                    )
                )
        return results


async def _seen_before(conn: AsyncConnection, delivery: Delivery) -> Accepted:
    t = intacct_trigger_events
    by_key = (
        await conn.execute(
            sa.select(t.c.token_id, t.c.body_digest).where(
                t.c.connection == delivery.connection,
                t.c.idempotency_key == delivery.idempotency_key,
            )
        )
    ).first()
    token_id = delivery.verified.token_id
    if token_id is not None:
        by_token = (
            await conn.execute(
                sa.select(t.c.connection, t.c.idempotency_key, t.c.body_digest).where(
                    t.c.token_id == token_id
                )
            )
        ).first()
        if by_token is not None and (
            (by_token.connection, by_token.idempotency_key)
            != (delivery.connection, delivery.idempotency_key)
            or by_token.body_digest != delivery.body_digest
        ):
            return "replayed"
    if by_key is None:
        return "replayed"  # the insert met a token used elsewhere
    # Plain HTTP POST triggers are never retried by Intacct: the same body again is a replay.
    return "replayed" if delivery.verified.form == "secret" else "duplicate"


async def _queue(
    conn: AsyncConnection, connection: str, ref: RecordRef, *, now: float, coalesce: float
) -> None:
    r = intacct_trigger_reads
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(r).values(
        connection=connection,
        object=ref.object,
        record_key=ref.key,
        events=1,
        first_event_at=now,
        due_at=now + coalesce,
        attempts=0,
    )
    claimed_now = sa.case(
        (r.c.claimed_by.is_not(None), sa.func.coalesce(r.c.again_at, now)), else_=r.c.again_at
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["connection", "object", "record_key"],
            set_={"events": r.c.events + 1, "again_at": claimed_now},
        )
    )


def _claimable(now: float, due_by: float) -> sa.ColumnElement[bool]:
    r = intacct_trigger_reads
    return sa.and_(r.c.due_at <= due_by, sa.or_(r.c.claimed_by.is_(None), r.c.claimed_until < now))


async def claim(
    engine: AsyncEngine, *, owner: str, now: float, lease: float, limit: int, grace: float = 0.25
) -> list[QueuedRead]:
    """Up to ``limit`` reads due by ``now + grace`` (events of one burst fall due a few
    milliseconds apart: they are read together), now held by ``owner`` until ``now + lease``."""
    due_by = now + grace
    r = intacct_trigger_reads
    claimed: list[QueuedRead] = []
    async with engine.begin() as conn:
        candidates = sa.select(r).where(_claimable(now, due_by)).order_by(r.c.due_at).limit(limit)
        if conn.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        for row in (await conn.execute(candidates)).all():
            won = await conn.execute(
                r.update()
                .where(_pk(row.connection, row.object, row.record_key), _claimable(now, due_by))
                .values(claimed_by=owner, claimed_until=now + lease)
            )
            if won.rowcount == 1:
                claimed.append(
                    QueuedRead(
                        row.connection,
                        RecordRef(row.object, row.record_key),
                        row.events,
                        row.first_event_at,
                        row.attempts,
                    )
                )
    return claimed


def _pk(connection: str, object_name: str, key: str) -> sa.ColumnElement[bool]:
    r = intacct_trigger_reads
    return sa.and_(r.c.connection == connection, r.c.object == object_name, r.c.record_key == key)


async def finish(
    engine: AsyncEngine, owner: str, reads: Sequence[QueuedRead], *, coalesce: float
) -> None:
    """The reads are done: drop their rows, or queue once more those with newer events."""
    r = intacct_trigger_reads
    async with engine.begin() as conn:
        for item in reads:
            mine = sa.and_(
                _pk(item.connection, item.ref.object, item.ref.key), r.c.claimed_by == owner
            )
            gone = await conn.execute(r.delete().where(mine, r.c.again_at.is_(None)))
            if gone.rowcount == 1:
                continue
            await conn.execute(
                r.update()
                .where(mine)
                .values(
                    claimed_by=None,
                    claimed_until=None,
                    due_at=r.c.again_at + coalesce,
                    first_event_at=r.c.again_at,
                    again_at=None,
                    events=1,
                    attempts=0,
                )
            )


async def retry_later(
    engine: AsyncEngine, owner: str, reads: Sequence[QueuedRead], *, when: float
) -> None:
    r = intacct_trigger_reads
    async with engine.begin() as conn:
        for item in reads:
            await conn.execute(
                r.update()
                .where(_pk(item.connection, item.ref.object, item.ref.key), r.c.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None, due_at=when, attempts=r.c.attempts + 1)
            )


async def next_due(engine: AsyncEngine) -> float | None:
    """When the earliest queued read falls due (claimed ones count from their lease's end)."""
    r = intacct_trigger_reads
    due = sa.case((r.c.claimed_by.is_(None), r.c.due_at), else_=r.c.claimed_until)
    async with engine.connect() as conn:
        value = await conn.scalar(sa.select(sa.func.min(due)))
    return None if value is None else float(value)


async def prune(engine: AsyncEngine, now: float) -> int:
    """Forget deliveries whose keys and tokens can no longer come back."""
    t = intacct_trigger_events
    async with engine.begin() as conn:
        result = await conn.execute(t.delete().where(t.c.expires_at < now))
    return int(result.rowcount)
