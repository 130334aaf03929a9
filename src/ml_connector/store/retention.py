"""Retention: forgetting what grows with every event, in small batches, never work still to do.

Only rows whose work is finished are candidates, and each ``DELETE`` carries that condition
itself (not just the ``SELECT`` that found the ids), so a row that changed state in between
stays:

- ``outbox``: ``delivered`` messages delivered more than ``days`` ago, with their attempts.
  Pending, in-flight, unknown, held and dead messages (and dead letters already replayed,
  which the trail links to their copies) are never touched.
- ``runs``: finished runs started more than ``days`` ago, except each pipeline's newest
  (the status page's "last run").
- ``schedule_slots``: slots older than ``days``, except each schedule's newest (catch-up
  reads it to know which slots were already served).
- ``slack_events``: event ids seen more than :data:`EVENT_ID_WINDOW` ago (Slack retries an
  event within minutes, so a day is already generous).
- ``service_instances``: rows of processes that stopped heartbeating a day ago (a crash
  leaves one behind).

Each batch is one short transaction; on SQLite that transaction holds the database's only
write lock, so batches are small (:data:`BATCH_SIZE`, see ``bench/retention.py``) and the
caller pauses between them. The newest outbox row is always kept: SQLite reuses the highest
rowid once it is deleted, and a reused id would make `audit 123` show another message.

``retention_marks`` keeps, per table, the highest id pruned and the cutoff, which is how
`audit` and `replay` tell "pruned after N days" from "never existed".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector.delivery.outbox import Status
from ml_connector.store.tables import (
    delivery_attempts,
    outbox,
    retention_marks,
    runs,
    schedule_slots,
    service_instances,
    slack_events,
)

DAY = 86400.0
DEFAULT_DAYS = 90
BATCH_SIZE = 500
EVENT_ID_WINDOW = DAY
INSTANCE_WINDOW = DAY

OUTBOX = "outbox"
ATTEMPTS = "delivery_attempts"
RUNS = "runs"
SLOTS = "schedule_slots"
EVENTS = "slack_events"
INSTANCES = "service_instances"


@dataclass(frozen=True)
class Mark:
    """What retention has removed from one table so far."""

    name: str
    through_id: int | None
    cutoff: float
    days: int
    pruned_rows: int
    pruned_at: float

    def covers(self, row_id: int) -> bool:
        """Whether an id that is not in the table was there once and aged out."""
        return self.through_id is not None and row_id <= self.through_id

    @property
    def cutoff_date(self) -> str:
        return datetime.fromtimestamp(self.cutoff, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Pruned:
    """One batch: rows removed per table, the highest id removed per table."""

    rows: dict[str, int]
    through: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass
class CycleReport:
    """One pass over every table: rows removed, batches, and the longest batch transaction."""

    rows: dict[str, int]
    batches: int = 0
    longest_batch: float = 0.0
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.rows.values())


BatchFn = Callable[[AsyncConnection, float, int], Awaitable[Pruned]]


async def prune_outbox(conn: AsyncConnection, cutoff: float, limit: int) -> Pruned:
    """Delivered messages delivered before ``cutoff``, and their attempts."""
    newest = sa.select(sa.func.max(outbox.c.id)).scalar_subquery()
    delivered = sa.and_(
        outbox.c.status == Status.DELIVERED.value,
        outbox.c.delivered_at < cutoff,
        outbox.c.id < newest,
    )
    ids = list(
        await conn.scalars(
            sa.select(outbox.c.id).where(delivered).order_by(outbox.c.delivered_at).limit(limit)
        )
    )
    if not ids:
        return Pruned({}, {})
    gone = list(
        await conn.scalars(
            outbox.delete().where(outbox.c.id.in_(ids), delivered).returning(outbox.c.id)
        )
    )
    attempts = (
        list(
            await conn.scalars(
                delivery_attempts.delete()
                .where(delivery_attempts.c.outbox_id.in_(gone))
                .returning(delivery_attempts.c.id)
            )
        )
        if gone
        else []
    )
    rows = {OUTBOX: len(gone), ATTEMPTS: len(attempts)}
    through = {OUTBOX: max(gone)} if gone else {}
    if attempts:
        through[ATTEMPTS] = max(attempts)
    return Pruned(rows, through)


async def prune_runs(conn: AsyncConnection, cutoff: float, limit: int) -> Pruned:
    """Finished runs started before ``cutoff`` that are not their pipeline's newest."""
    newer = runs.alias("newer")
    old = sa.and_(
        runs.c.status != "running",
        runs.c.started_at < cutoff,
        sa.exists().where(
            newer.c.pipeline == runs.c.pipeline,
            newer.c.status != "running",
            newer.c.started_at > runs.c.started_at,
        ),
    )
    ids = list(
        await conn.scalars(sa.select(runs.c.id).where(old).order_by(runs.c.started_at).limit(limit))
    )
    if not ids:
        return Pruned({}, {})
    gone = list(
        await conn.scalars(runs.delete().where(runs.c.id.in_(ids), old).returning(runs.c.id))
    )
    return Pruned({RUNS: len(gone)}, {RUNS: max(gone)} if gone else {})


async def prune_slots(conn: AsyncConnection, cutoff: float, limit: int) -> Pruned:
    """Schedule slots before ``cutoff`` that are not their schedule's newest."""
    later = schedule_slots.alias("later")
    old = sa.and_(
        schedule_slots.c.fire_time < cutoff,
        sa.exists().where(
            later.c.schedule == schedule_slots.c.schedule,
            later.c.fire_time > schedule_slots.c.fire_time,
        ),
    )
    keys = (
        await conn.execute(
            sa.select(schedule_slots.c.schedule, schedule_slots.c.fire_time)
            .where(old)
            .order_by(schedule_slots.c.fire_time)
            .limit(limit)
        )
    ).all()
    if not keys:
        return Pruned({}, {})
    key = sa.tuple_(schedule_slots.c.schedule, schedule_slots.c.fire_time)
    result = await conn.execute(
        schedule_slots.delete().where(key.in_([tuple(k) for k in keys]), old)
    )
    return Pruned({SLOTS: int(result.rowcount)}, {})


async def prune_events(conn: AsyncConnection, cutoff: float, limit: int) -> Pruned:
    """Slack event ids first seen before ``cutoff``: Slack no longer retries them."""
    ids = list(
        await conn.scalars(
            sa.select(slack_events.c.event_id)
            .where(slack_events.c.received_at < cutoff)
            .order_by(slack_events.c.received_at)
            .limit(limit)
        )
    )
    if not ids:
        return Pruned({}, {})
    result = await conn.execute(
        slack_events.delete().where(
            slack_events.c.event_id.in_(ids), slack_events.c.received_at < cutoff
        )
    )
    return Pruned({EVENTS: int(result.rowcount)}, {})


async def prune_instances(conn: AsyncConnection, cutoff: float, limit: int) -> Pruned:
    """Instances whose last heartbeat is older than ``cutoff`` (they crashed)."""
    ids = list(
        await conn.scalars(
            sa.select(service_instances.c.instance_id)
            .where(service_instances.c.heartbeat_at < cutoff)
            .limit(limit)
        )
    )
    if not ids:
        return Pruned({}, {})
    result = await conn.execute(
        service_instances.delete().where(
            service_instances.c.instance_id.in_(ids), service_instances.c.heartbeat_at < cutoff
        )
    )
    return Pruned({INSTANCES: int(result.rowcount)}, {})


@dataclass(frozen=True)
class Rule:
    """One table's pruning: its batch function and how far back it keeps rows."""

    name: str
    batch: BatchFn
    window: Callable[[int], float]  # retention days -> seconds kept
    marks: tuple[str, ...]


def _days(days: int) -> float:
    return days * DAY


RULES: tuple[Rule, ...] = (
    Rule(OUTBOX, prune_outbox, _days, (OUTBOX, ATTEMPTS)),
    Rule(RUNS, prune_runs, _days, (RUNS,)),
    Rule(SLOTS, prune_slots, _days, (SLOTS,)),
    Rule(EVENTS, prune_events, lambda _days: EVENT_ID_WINDOW, (EVENTS,)),
    Rule(INSTANCES, prune_instances, lambda _days: INSTANCE_WINDOW, (INSTANCES,)),
)


async def prune_batch(
    engine: AsyncEngine, rule: Rule, *, days: int, now: float, limit: int
) -> tuple[Pruned, float]:
    """One batch of one rule in its own transaction; returns it and how long the transaction
    held the database (on SQLite: the write lock), commit included."""
    window = rule.window(days)
    cutoff = now - window
    async with engine.begin() as conn:
        # From BEGIN (IMMEDIATE on SQLite: the write lock is held from here) to after COMMIT.
        started = time.perf_counter()
        pruned = await rule.batch(conn, cutoff, limit)
        for name in rule.marks:
            if pruned.rows.get(name):
                await _advance_mark(
                    conn,
                    name,
                    through_id=pruned.through.get(name),
                    cutoff=cutoff,
                    days=round(window / DAY) or 1,
                    rows=pruned.rows[name],
                    now=now,
                )
    return pruned, time.perf_counter() - started


async def prune_all(
    engine: AsyncEngine,
    *,
    days: int,
    now: float,
    batch_size: int = BATCH_SIZE,
    pause: Callable[[], Awaitable[bool]] | None = None,
) -> CycleReport:
    """Prune every table until nothing is left to prune, one batch per transaction.

    ``pause`` runs between batches (to let other writers take the lock); if it returns
    ``False`` the cycle stops early (the service is stopping) and ``complete`` is false.
    """
    report = CycleReport(rows={})
    for rule in RULES:
        while True:
            pruned, held = await prune_batch(engine, rule, days=days, now=now, limit=batch_size)
            report.batches += 1
            report.longest_batch = max(report.longest_batch, held)
            for name, count in pruned.rows.items():
                report.rows[name] = report.rows.get(name, 0) + count
            if pruned.rows.get(rule.name, 0) < batch_size:
                break
            if pause is not None and not await pause():
                report.complete = False
                return report
    return report


async def _advance_mark(
    conn: AsyncConnection,
    name: str,
    *,
    through_id: int | None,
    cutoff: float,
    days: int,
    rows: int,
    now: float,
) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(retention_marks)
        .values(name=name, through_id=None, cutoff=cutoff, days=days, pruned_rows=0, pruned_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    m = retention_marks.c
    values: dict[str, Any] = {
        "cutoff": sa.case((m.cutoff < cutoff, cutoff), else_=m.cutoff),
        "days": days,
        "pruned_rows": m.pruned_rows + rows,
        "pruned_at": now,
    }
    if through_id is not None:
        values["through_id"] = sa.case(
            (sa.or_(m.through_id.is_(None), m.through_id < through_id), through_id),
            else_=m.through_id,
        )
    await conn.execute(retention_marks.update().where(m.name == name).values(**values))


def _mark(row: Any) -> Mark:
    return Mark(
        name=row.name,
        through_id=row.through_id,
        cutoff=row.cutoff,
        days=row.days,
        pruned_rows=row.pruned_rows,
        pruned_at=row.pruned_at,
    )


async def get_mark(conn: AsyncConnection, name: str) -> Mark | None:
    row = (
        await conn.execute(sa.select(retention_marks).where(retention_marks.c.name == name))
    ).first()
    return None if row is None else _mark(row)


async def all_marks(conn: AsyncConnection) -> dict[str, Mark]:
    rows = await conn.execute(sa.select(retention_marks).order_by(retention_marks.c.name))
    return {row.name: _mark(row) for row in rows}


def message_aged_out(outbox_id: int, mark: Mark) -> str:
    """Why ``outbox_id`` is not there any more, in the words `audit` and `replay` print."""
    return (
        f"message {outbox_id} was pruned by retention after {mark.days} days "
        f"([retention] days): delivered messages from before {mark.cutoff_date} are no "
        "longer kept"
    )


def message_never_existed(outbox_id: int) -> str:
    return f"no message with id {outbox_id} has ever existed (retention did not prune it)"


async def why_missing(conn: AsyncConnection, outbox_id: int) -> str:
    """For an outbox id that is not there: pruned by retention, or never there at all."""
    mark = await get_mark(conn, OUTBOX)
    if mark is not None and mark.covers(outbox_id):
        return message_aged_out(outbox_id, mark)
    return message_never_existed(outbox_id)


async def why_run_empty(conn: AsyncConnection, run_id: int) -> str:
    """For a run with no message: its messages aged out, it never existed, or it queued none."""
    started = await conn.scalar(sa.select(runs.c.started_at).where(runs.c.id == run_id))
    outbox_mark = await get_mark(conn, OUTBOX)
    if started is None:
        run_mark = await get_mark(conn, RUNS)
        if run_mark is not None and run_mark.covers(run_id):
            return (
                f"run {run_id} was pruned by retention after {run_mark.days} days "
                f"([retention] days), with its delivered messages"
            )
        return f"no run with id {run_id} has ever existed (retention did not prune it)"
    if outbox_mark is not None and started < outbox_mark.cutoff:
        return (
            f"run {run_id}'s messages were pruned by retention after {outbox_mark.days} days "
            f"([retention] days): delivered messages from before {outbox_mark.cutoff_date} "
            "are no longer kept"
        )
    return f"run {run_id} queued no messages"
