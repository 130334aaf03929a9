"""Schedule slots in the database: each fire time runs once, however many processes are up.

A slot is a row keyed by (schedule, fire time). Every process computes the same due fire time
from the same spec and tries to insert its row; the primary key lets exactly one insert win, on
SQLite and PostgreSQL alike, with no lock held while a run executes.

After downtime several fire times are due at once. They are never run as a burst: the latest
one is claimed and the earlier ones are either folded into it (``catch_up = "coalesce"``: one
catch-up run, the row's ``coalesced`` says how many slots it stands for) or dropped
(``catch_up = "skip"``: if even the latest is late, its row is written as skipped so that no
other process runs it, and the schedule waits for its next regular slot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector.clock import to_datetime
from ml_connector.errors import StoreError
from ml_connector.schedule.planner import Fire, fires_between
from ml_connector.schedule.spec import ScheduleSpec
from ml_connector.store.tables import schedule_slots

# A slot claimed this long after its fire time still counts as on time (polling delay).
DEFAULT_ON_TIME_WITHIN = 120.0
_REASON_LENGTH = 200  # schedule_slots.reason is String(200)

Trigger = Literal["schedule", "catchup"]


@dataclass(frozen=True, slots=True)
class Claim:
    """A slot this process won: run the pipeline for it.

    ``coalesced`` earlier due slots are folded into this run; ``skipped`` earlier slots were
    dropped because the schedule says ``catch_up = "skip"``.
    """

    schedule: str
    fire: Fire
    trigger: Trigger
    coalesced: int = 0
    skipped: int = 0

    @property
    def fire_time(self) -> float:
        return self.fire.epoch


async def claim_due(
    engine: AsyncEngine,
    schedule_name: str,
    spec: ScheduleSpec,
    now: float,
    owner: str,
    *,
    last_fire_lookback: float,
    on_time_within: float = DEFAULT_ON_TIME_WITHIN,
) -> Claim | None:
    """Claim the latest fire time due at ``now`` (UTC epoch), or ``None``.

    ``None`` means nothing is due, another process won the slot, or the slot was skipped.
    Fire times older than ``last_fire_lookback`` seconds are never run: after a long outage
    the schedule resumes instead of replaying history. A slot counts as on time up to
    ``on_time_within`` seconds after its fire time; a later one is a catch-up (or skipped).
    A schedule that has never fired starts with its next on-time slot.
    """
    claims = await claim_due_many(
        engine,
        [(schedule_name, spec)],
        now,
        owner,
        last_fire_lookback=last_fire_lookback,
        on_time_within=on_time_within,
    )
    return claims.get(schedule_name)


async def claim_due_many(
    engine: AsyncEngine,
    schedules: Sequence[tuple[str, ScheduleSpec]],
    now: float,
    owner: str,
    *,
    last_fire_lookback: float,
    on_time_within: float = DEFAULT_ON_TIME_WITHIN,
) -> dict[str, Claim]:
    """:func:`claim_due` for many schedules at once: the claims this process won, by name.

    One query reads the latest slots (per batch of names) and one transaction inserts the
    new ones, so a tick over thousands of due schedules costs a few statements and one commit
    each, not two round trips per schedule.
    """
    names = [name for name, _ in schedules]
    last = await latest_slots(engine, names)
    planned: list[tuple[Claim | None, dict[str, object]]] = []
    # Many schedules share a spec (a thousand companies on "*/15"): their fire times are
    # worked out once per spec and window, not once per schedule.
    keys: dict[int, str] = {}
    memo: dict[tuple[str, float, float], list[Fire]] = {}

    def due(spec: ScheduleSpec, start: float, end: float) -> list[Fire]:
        key = keys.get(id(spec))
        if key is None:
            key = keys[id(spec)] = spec.model_dump_json()
        found = memo.get((key, start, end))
        if found is None:
            found = memo[(key, start, end)] = fires_between(
                spec, to_datetime(start), to_datetime(end)
            )
        return found

    for name, spec in schedules:
        plan = _plan(
            name, spec, last.get(name), now, owner, last_fire_lookback, on_time_within, due
        )
        if plan is not None:
            planned.append(plan)
    won: dict[str, Claim] = {}
    if not planned:
        return won
    async with engine.begin() as conn:
        for claim, values in planned:
            if await insert_if_absent(conn, schedule_slots, values) and claim is not None:
                won[claim.schedule] = claim
    return won


def _plan(
    schedule_name: str,
    spec: ScheduleSpec,
    last: float | None,
    now: float,
    owner: str,
    last_fire_lookback: float,
    on_time_within: float,
    fires: Callable[[ScheduleSpec, float, float], list[Fire]],
) -> tuple[Claim | None, dict[str, object]] | None:
    """The slot row to insert for what is due, and the claim it stands for (``None``: the
    row records a skipped slot). Pure (``fires`` is :func:`fires_between`, memoised)."""
    if last is None:
        # A schedule with no history has missed nothing: only an on-time slot counts.
        start = now - min(last_fire_lookback, on_time_within)
    else:
        start = max(last, now - last_fire_lookback)
    if start >= now:
        return None
    due = fires(spec, start, now)
    if not due:
        return None
    latest, earlier = due[-1], len(due) - 1
    late = now - latest.epoch > on_time_within
    claim: Claim | None
    if spec.catch_up == "skip":
        if late:
            reason = f"skipped, {_late_by(now - latest.epoch)} late: {latest.reason}"
            return None, _slot_values(schedule_name, latest, owner, now, reason, 0)
        claim = Claim(schedule_name, latest, "schedule", skipped=earlier)
        note = f"{earlier} missed slot(s) skipped" if earlier else ""
    else:
        trigger: Trigger = "catchup" if earlier or late else "schedule"
        claim = Claim(schedule_name, latest, trigger, coalesced=earlier)
        note = f"catch-up for {earlier + 1} slots" if earlier else ("catch-up" if late else "")
    reason = f"{latest.reason} ({note})" if note else latest.reason
    return claim, _slot_values(schedule_name, latest, owner, now, reason, claim.coalesced)


async def latest_slot(engine: AsyncEngine, schedule_name: str) -> float | None:
    """The most recent fire time claimed (or skipped) for the schedule."""
    query = sa.select(sa.func.max(schedule_slots.c.fire_time)).where(
        schedule_slots.c.schedule == schedule_name
    )
    async with engine.connect() as conn:
        value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else float(value)


# Names per query: well under SQLite's bound-parameter limit.
_BATCH = 500


async def latest_slots(engine: AsyncEngine, names: Sequence[str]) -> dict[str, float]:
    """:func:`latest_slot` of many schedules (those with no slot are left out)."""
    found: dict[str, float] = {}
    async with engine.connect() as conn:
        for i in range(0, len(names), _BATCH):
            query = (
                sa.select(schedule_slots.c.schedule, sa.func.max(schedule_slots.c.fire_time))
                .where(schedule_slots.c.schedule.in_(names[i : i + _BATCH]))
                .group_by(schedule_slots.c.schedule)
            )
            for name, fire_time in await conn.execute(query):
                found[name] = float(fire_time)
    return found


async def attach_run(engine: AsyncEngine, claim: Claim, run_id: int) -> None:
    """Record which run served the slot, for the audit trail and ``status``."""
    async with engine.begin() as conn:
        await conn.execute(
            schedule_slots.update()
            .where(schedule_slots.c.schedule == claim.schedule)
            .where(schedule_slots.c.fire_time == claim.fire_time)
            .values(run_id=run_id)
        )


async def note_slot(engine: AsyncEngine, claim: Claim, note: str) -> None:
    """Add to the slot's reason why it did not run (paused, backing off, shutting down)."""
    reason = f"not run, {note}: {claim.fire.reason}"
    async with engine.begin() as conn:
        await conn.execute(
            schedule_slots.update()
            .where(schedule_slots.c.schedule == claim.schedule)
            .where(schedule_slots.c.fire_time == claim.fire_time)
            .values(reason=_fit(reason))
        )


def _slot_values(
    schedule_name: str, fire: Fire, owner: str, now: float, reason: str, coalesced: int
) -> dict[str, object]:
    return {
        "schedule": schedule_name,
        "fire_time": fire.epoch,
        "reason": _fit(reason),
        "claimed_by": owner,
        "claimed_at": now,
        "coalesced": coalesced,
    }


async def insert_if_absent(
    conn: AsyncConnection, table: sa.Table, values: dict[str, object]
) -> bool:
    """Insert unless a row with the same key exists; ``True`` if this call inserted it."""
    dialect = conn.dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:
        raise StoreError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
    result = await conn.execute(stmt.returning(*table.primary_key.columns))
    return result.first() is not None


def _fit(reason: str) -> str:
    return reason if len(reason) <= _REASON_LENGTH else reason[: _REASON_LENGTH - 1] + "…"


def _late_by(seconds: float) -> str:
    late = timedelta(seconds=round(seconds))
    if late < timedelta(hours=1):
        return f"{late.seconds // 60} min"
    if late < timedelta(days=2):
        return f"{late // timedelta(hours=1)} h"
    return f"{late.days} days"
