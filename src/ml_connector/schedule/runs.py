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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.errors import RunSupersededError
from ml_connector.store.companies import Pause, is_paused
from ml_connector.store.group_commit import GroupCommit, Waiting
from ml_connector.store.tables import companies, runs, schedule_slots

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
    started = await start_run(
        engine,
        pipeline,
        trigger,
        owner,
        now=now,
        stale_after=stale_after,
        details=details,
        slot=slot,
    )
    return started if isinstance(started, int) else None


async def start_run(
    engine: AsyncEngine,
    pipeline: str,
    trigger: str,
    owner: str,
    *,
    now: float | None = None,
    stale_after: float = DEFAULT_STALE_AFTER,
    details: dict[str, Any] | None = None,
    slot: tuple[str, float] | None = None,
    unless_paused: tuple[str, str] | None = None,
) -> int | Pause | None:
    """:func:`try_start_run`, and with ``unless_paused`` (pipeline, company) the company's
    pause, if it is paused, instead of a run.

    The pause, a live run and a dead one are looked up in one statement, in the transaction
    that inserts the run (a scheduled poll of a thousand companies does this ten thousand
    times an hour: each statement and transaction fewer is a share of the event loop)."""
    moment = clock.now() if now is None else now
    async with engine.begin() as conn:
        await _serialize_starters(conn, pipeline)
        query = _live_query(pipeline, moment - stale_after, unless_paused)
        live, stale, paused = (await conn.execute(query)).one()
        if stale:
            await _fail_stale(conn, moment, stale_after, pipeline=pipeline)
        if paused and unless_paused is not None:
            pause = await is_paused(conn, *unless_paused)
            if pause is not None:
                return pause
        if live:
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
    _check_final(status)
    moment = clock.now() if now is None else now
    finish = Finish(run_id, status, records_read, messages_queued, error, moment)
    async with engine.begin() as conn:
        result = await conn.execute(_FINISH, finish.params())
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class Finish:
    """One run's outcome, for :class:`RunFinisher`."""

    run_id: int
    status: FinalStatus
    records_read: int
    messages_queued: int
    error: str | None
    at: float

    def params(self) -> dict[str, Any]:
        """The bound values of :data:`_FINISH` for this run."""
        return {
            "run_id": self.run_id,
            "new_status": self.status,
            "at": self.at,
            "read": self.records_read,
            "queued": self.messages_queued,
            "new_error": self.error,
        }


class RunFinisher:
    """:func:`finish_run` for many runs at once: the runs that end while one transaction is
    being written are written together in the next (``store.group_commit``), with the same
    guard (a run declared orphaned keeps its ``failed``). The answer comes once the batch
    is committed, so a caller that reads the runs table afterwards sees its run finished."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 200) -> None:
        self.engine = engine
        self._commits: GroupCommit[Finish, bool] = GroupCommit(
            self._write,
            max_batch=max_batch,
            task_name="run finisher",
            stopped="the runner is closed",
            failed="could not record the runs' outcomes",
            on_demand=True,
        )

    async def finish(
        self,
        run_id: int,
        status: FinalStatus,
        records_read: int,
        messages_queued: int,
        error: str | None,
        *,
        now: float | None = None,
    ) -> bool:
        """Like :func:`finish_run`; raises ``StoreError`` if the batch's commit failed."""
        _check_final(status)
        moment = clock.now() if now is None else now
        return await self._commits.submit(
            Finish(run_id, status, records_read, messages_queued, error, moment)
        )

    async def close(self) -> None:
        await self._commits.close()

    async def _write(self, batch: Sequence[Waiting[Finish, bool]]) -> list[bool]:
        items = [w.item for w in batch]
        ids = [f.run_id for f in items]
        async with self.engine.begin() as conn:
            # still running (on PostgreSQL locked until the commit, so the answer holds)
            alive = set(
                (
                    await conn.execute(
                        sa.select(runs.c.id)
                        .where(runs.c.id.in_(ids), runs.c.status == RUNNING)
                        .with_for_update()
                    )
                ).scalars()
            )
            rows = [f.params() for f in items if f.run_id in alive]
            if rows:
                await conn.execute(_FINISH, rows)
        return [f.run_id in alive for f in items]


# One statement for one run or a whole batch (executemany): the values are bound per run.
_FINISH = (
    runs.update()
    .where(runs.c.id == sa.bindparam("run_id"))
    .where(runs.c.status == RUNNING)
    .values(
        status=sa.bindparam("new_status"),
        finished_at=sa.bindparam("at"),
        heartbeat_at=sa.bindparam("at"),
        records_read=sa.bindparam("read"),
        messages_queued=sa.bindparam("queued"),
        error=sa.bindparam("new_error", type_=runs.c.error.type),
    )
)


def _check_final(status: str) -> None:
    if status not in ("succeeded", "partial", "failed"):
        raise ValueError(f"not a final run status: {status!r}")


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


def _live_query(
    pipeline: str, stale_before: float, company: tuple[str, str] | None
) -> sa.Select[tuple[int, int, Any]]:
    """How many runs of ``pipeline`` are running and alive, how many running but dead, and
    whether the company is paused: one row, whatever the tables hold."""
    running = sa.select(sa.func.count()).where(
        runs.c.pipeline == pipeline, runs.c.status == RUNNING
    )
    pause: sa.ColumnElement[Any] = sa.null()
    if company is not None:
        pause = (
            sa.select(companies.c.paused)
            .where(
                companies.c.pipeline == company[0],
                companies.c.company == company[1],
            )
            .scalar_subquery()
        )
    return sa.select(
        running.where(_last_beat() >= stale_before).scalar_subquery(),
        running.where(_last_beat() < stale_before).scalar_subquery(),
        pause,
    )


def _last_beat() -> sa.ColumnElement[float]:
    """A run started by older code may have no heartbeat yet: its start counts as one."""
    return sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at)
