"""Pipeline runs in the ``runs`` table: one at a time per pipeline, across every process.

A run is ``running`` while its owner keeps its heartbeat fresh. Starting a run is a
compare-and-set: insert a ``running`` row only if no live one exists, with the check and the
insert serialized against every other starter of the pipeline. On SQLite every transaction
begins IMMEDIATE (``store.engine``), which takes the database's one write lock up front; on
PostgreSQL a transaction-scoped advisory lock per pipeline does the same for its starters
only, so the check and the insert cannot interleave under READ COMMITTED. A run whose
heartbeat stopped (its process was killed) is marked failed with the reason, and no longer
blocks the next run.

A run declared dead may still be alive (its process hung, or could not write its heartbeat
while the disk was full). It must then commit nothing, or it would post what the run that
replaced it posts: :func:`fence_run` runs inside the transaction that commits a run's
messages and cursor and refuses with :class:`~ml_connector.errors.RunSupersededError` unless
the run's row is still ``running``. On PostgreSQL it locks the row (``FOR UPDATE``), so a
starter declaring the run dead waits for that commit, or the commit sees it failed; on
SQLite the transaction already holds the one write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.errors import RunSupersededError
from ml_connector.store.tables import runs, schedule_slots

RUNNING = "running"
FinalStatus = Literal["succeeded", "partial", "failed"]
# A run that has not beaten for this long is presumed dead (heartbeats every 3 s, so five
# missed beats): a crashed run blocks the next one for seconds, not minutes.
DEFAULT_STALE_AFTER = 15.0


def run_key(pipeline: str, stream: str | None) -> str:
    """The name runs and schedule slots are recorded under: ``pipeline`` is a company's key
    (``Company.key``: the pipeline's name, or ``pipeline@CODE``), then ``.stream`` for a Sage
    100 stream (each stream runs on its own)."""
    return pipeline if stream is None else f"{pipeline}.{stream}"


async def try_start_run(
    engine: AsyncEngine,
    pipeline: str,
    trigger: str,
    owner: str,
    *,
    now: float | None = None,
    stale_after: float = DEFAULT_STALE_AFTER,
    details: dict[str, Any] | None = None,
    slot: tuple[str, float] | None = None,
) -> int | None:
    """Start a run of ``pipeline`` and return its id, or ``None`` if one is still running.

    ``slot``: the (schedule, fire time) the run serves, recorded on the slot in the same
    transaction (one commit fewer per scheduled poll)."""
    moment = clock.now() if now is None else now
    async with engine.begin() as conn:
        await _serialize_starters(conn, pipeline)
        await _fail_stale(conn, moment, stale_after, pipeline=pipeline)
        running = await conn.execute(
            sa.select(runs.c.id)
            .where(runs.c.pipeline == pipeline)
            .where(runs.c.status == RUNNING)
            .limit(1)
        )
        if running.first() is not None:
            return None
        result = await conn.execute(
            runs.insert()
            .values(
                pipeline=pipeline,
                trigger=trigger,
                status=RUNNING,
                started_at=moment,
                owner=owner,
                heartbeat_at=moment,
                records_read=0,
                messages_queued=0,
                details=sa.null() if details is None else details,
            )
            .returning(runs.c.id)
        )
        run_id = result.scalar_one()
        if slot is not None:
            await conn.execute(
                schedule_slots.update()
                .where(schedule_slots.c.schedule == slot[0])
                .where(schedule_slots.c.fire_time == slot[1])
                .values(run_id=run_id)
            )
    return int(run_id)


async def heartbeat_run(engine: AsyncEngine, run_id: int, *, now: float | None = None) -> bool:
    """Keep the run alive; ``False`` means it was declared orphaned and should stop."""
    async with engine.begin() as conn:
        result = await conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .where(runs.c.status == RUNNING)
            .values(heartbeat_at=clock.now() if now is None else now)
        )
    return bool(result.rowcount)


async def fence_run(conn: AsyncConnection, run_id: int) -> None:
    """Refuse, in the caller's transaction, to commit work for a run no longer ``running``.

    Raises :class:`RunSupersededError` (naming the run that took its place, if one did) when
    the run was declared dead or already finished; the caller's transaction then rolls back,
    so nothing it wrote — messages, cursor — is kept. A ``run_id`` with no row at all (a
    pipeline run outside the runner, e.g. by a test) has nothing to be fenced by.
    """
    query = sa.select(runs.c.status, runs.c.pipeline, runs.c.error).where(runs.c.id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None or row.status == RUNNING:
        return
    successor = await conn.scalar(
        sa.select(runs.c.id)
        .where(runs.c.pipeline == row.pipeline, runs.c.id > run_id)
        .order_by(runs.c.id)
        .limit(1)
    )
    by = f"; run {successor} took its place" if successor is not None else ""
    raise RunSupersededError(
        f"superseded: run {run_id} of {row.pipeline} was declared {row.status} "
        f"({row.error or 'no reason recorded'}){by}; nothing of it was queued and its cursor "
        f"stays where it was",
        run_id=run_id,
        superseded_by=None if successor is None else int(successor),
    )


async def record_superseded(engine: AsyncEngine, run_id: int, error: str) -> None:
    """Say on a run declared dead that it was still alive and was refused its commit."""
    async with engine.begin() as conn:
        await conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .where(runs.c.status != RUNNING)
            .values(error=error)
        )


async def finish_run(
    engine: AsyncEngine,
    run_id: int,
    status: FinalStatus,
    records_read: int,
    messages_queued: int,
    error: str | None,
    *,
    now: float | None = None,
) -> bool:
    """Record the outcome; ``False`` if the run had already been declared orphaned.

    An orphaned run keeps its ``failed`` status: another run may have started in its place,
    and the record should show that rather than hide it.
    """
    if status not in ("succeeded", "partial", "failed"):
        raise ValueError(f"not a final run status: {status!r}")
    moment = clock.now() if now is None else now
    async with engine.begin() as conn:
        result = await conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .where(runs.c.status == RUNNING)
            .values(
                status=status,
                finished_at=moment,
                heartbeat_at=moment,
                records_read=records_read,
                messages_queued=messages_queued,
                error=error,
            )
        )
    return bool(result.rowcount)


async def fail_orphaned_runs(
    engine: AsyncEngine, stale_after: float, *, now: float | None = None
) -> list[int]:
    """Mark failed every run whose heartbeat stopped ``stale_after`` seconds ago; their ids."""
    moment = clock.now() if now is None else now
    async with engine.begin() as conn:
        return await _fail_stale(conn, moment, stale_after)


async def _serialize_starters(conn: AsyncConnection, pipeline: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"ml_connector.runs:{pipeline}"},
        )


async def _fail_stale(
    conn: AsyncConnection, now: float, stale_after: float, *, pipeline: str | None = None
) -> list[int]:
    query = (
        sa.select(runs.c.id, runs.c.owner, _last_beat().label("last_beat"))
        .where(runs.c.status == RUNNING)
        .where(_last_beat() < now - stale_after)
        .order_by(runs.c.id)
    )
    if pipeline is not None:
        query = query.where(runs.c.pipeline == pipeline)
    failed: list[int] = []
    for run_id, owner, last_beat in (await conn.execute(query)).all():
        error = (
            f"orphaned: no heartbeat from {owner or 'its process'} since "
            f"{clock.to_datetime(last_beat):%Y-%m-%d %H:%M:%S} UTC (the process ended or hung)"
        )
        result = await conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .where(runs.c.status == RUNNING)
            .where(_last_beat() == last_beat)
            .values(status="failed", finished_at=now, error=error)
        )
        if result.rowcount:
            failed.append(int(run_id))
    return failed


def _last_beat() -> sa.ColumnElement[float]:
    """A run started by older code may have no heartbeat yet: its start counts as one."""
    return sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at)
