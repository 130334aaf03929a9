"""Runs of one pipeline never overlap; a run whose process died stops blocking the next."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.schedule.runs import (
    fail_orphaned_runs,
    finish_run,
    heartbeat_run,
    try_start_run,
)
from ml_connector.store.tables import runs

T0 = 1_790_000_000.0


async def run_row(engine: AsyncEngine, run_id: int) -> sa.Row[tuple[object, ...]]:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(runs).where(runs.c.id == run_id))).one()


async def test_second_run_of_a_pipeline_is_refused_while_the_first_runs(
    engine: AsyncEngine,
) -> None:
    first = await try_start_run(
        engine, "intacct", "schedule", "host-a:1", now=T0, details={"slot": "hourly"}
    )
    assert first is not None
    assert await try_start_run(engine, "intacct", "manual", "host-b:2", now=T0 + 5) is None
    # Another pipeline is not blocked.
    assert await try_start_run(engine, "sage100", "schedule", "host-b:2", now=T0 + 5) is not None
    row = await run_row(engine, first)
    assert (row.status, row.trigger, row.owner, row.heartbeat_at) == (
        "running",
        "schedule",
        "host-a:1",
        T0,
    )
    assert row.details == {"slot": "hourly"}

    assert await finish_run(engine, first, "succeeded", 12, 3, None, now=T0 + 60)
    row = await run_row(engine, first)
    assert (row.status, row.finished_at, row.records_read, row.messages_queued) == (
        "succeeded",
        T0 + 60,
        12,
        3,
    )
    assert await try_start_run(engine, "intacct", "manual", "host-b:2", now=T0 + 61) is not None


async def test_heartbeat_keeps_a_run_alive_and_a_silent_one_is_taken_over(
    engine: AsyncEngine,
) -> None:
    first = await try_start_run(engine, "intacct", "schedule", "host-a:1", now=T0)
    assert first is not None
    assert await heartbeat_run(engine, first, now=T0 + 100)
    # 150 s after start but only 50 s after the last beat: still alive.
    assert (
        await try_start_run(engine, "intacct", "schedule", "b", now=T0 + 150, stale_after=120)
        is None
    )
    # Silent for more than stale_after: the old run is failed and the new one starts.
    second = await try_start_run(
        engine, "intacct", "schedule", "host-b:2", now=T0 + 100 + 121, stale_after=120
    )
    assert second is not None
    old = await run_row(engine, first)
    assert old.status == "failed"
    assert old.error.startswith("orphaned: no heartbeat from host-a:1 since")
    # The old process wakes up: its heartbeat and its outcome are refused.
    assert not await heartbeat_run(engine, first, now=T0 + 300)
    assert not await finish_run(engine, first, "succeeded", 1, 1, None, now=T0 + 300)
    assert (await run_row(engine, first)).status == "failed"


async def test_fail_orphaned_runs_at_startup(engine: AsyncEngine) -> None:
    dead = await try_start_run(engine, "intacct", "schedule", "crashed:9", now=T0)
    alive = await try_start_run(engine, "sage100", "schedule", "alive:3", now=T0)
    assert dead is not None and alive is not None
    await heartbeat_run(engine, alive, now=T0 + 250)
    assert await fail_orphaned_runs(engine, 120, now=T0 + 300) == [dead]
    row = await run_row(engine, dead)
    assert (row.status, row.finished_at) == ("failed", T0 + 300)
    assert "crashed:9" in row.error and "2026-09-21 14:13:20 UTC" in row.error
    assert (await run_row(engine, alive)).status == "running"
    assert await fail_orphaned_runs(engine, 120, now=T0 + 300) == []


async def test_finish_run_refuses_a_status_that_is_not_final(engine: AsyncEngine) -> None:
    run_id = await try_start_run(engine, "intacct", "schedule", "a", now=T0)
    assert run_id is not None
    with pytest.raises(ValueError, match="not a final run status"):
        await finish_run(engine, run_id, "running", 0, 0, None)  # type: ignore[arg-type]
    assert await finish_run(engine, run_id, "failed", 0, 0, "Intacct said no", now=T0 + 1)
    assert (await run_row(engine, run_id)).error == "Intacct said no"


async def test_concurrent_starters_on_separate_engines_start_one_run(database: Any) -> None:
    engines = [database.engine() for _ in range(3)]
    for round_number in range(5):
        now = T0 + round_number * 1000
        started = await asyncio.gather(
            *(
                try_start_run(e, "intacct", "schedule", f"p{i}", now=now)
                for i, e in enumerate(engines)
                for _ in range(3)
            )
        )
        winners = [run_id for run_id in started if run_id is not None]
        assert len(winners) == 1, started
        assert await finish_run(engines[0], winners[0], "succeeded", 0, 0, None, now=now + 1)
    async with engines[0].connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(runs))
    assert count == 5


async def test_a_crashed_run_stops_blocking_within_seconds_by_default(engine: AsyncEngine) -> None:
    """A run whose process died (e.g. disk full at its last write) leaves a `running` row."""
    from ml_connector.runtime.runner import HEARTBEAT_SECONDS
    from ml_connector.schedule.runs import DEFAULT_STALE_AFTER

    assert DEFAULT_STALE_AFTER <= 15 and DEFAULT_STALE_AFTER >= 4 * HEARTBEAT_SECONDS
    crashed = await try_start_run(engine, "intacct", "manual", "host-a:1", now=T0)
    assert crashed is not None
    assert await try_start_run(engine, "intacct", "manual", "host-b:2", now=T0 + 10) is None
    later = await try_start_run(engine, "intacct", "manual", "host-b:2", now=T0 + 16)
    assert later is not None
    assert (await run_row(engine, crashed)).status == "failed"


async def test_runs_ending_together_are_written_in_one_batch_and_a_dead_run_stays_failed(
    engine: AsyncEngine,
) -> None:
    """RunFinisher batches the runs that end together; the guard of finish_run holds for
    each of them (a run declared dead meanwhile keeps its ``failed`` and its reason)."""
    from ml_connector.schedule.runs import RunFinisher

    ids = []
    for n in range(30):
        run_id = await try_start_run(
            engine, f"s100@C{n:02d}.ap_invoices", "schedule", "a:1", now=T0
        )
        assert run_id is not None
        ids.append(run_id)
    dead = ids[7]
    async with engine.begin() as conn:
        await conn.execute(
            runs.update().where(runs.c.id == dead).values(status="failed", error="orphaned: x")
        )
    finisher = RunFinisher(engine, max_batch=8)
    try:
        answers = await asyncio.gather(
            *(
                finisher.finish(i, "succeeded", n, n % 3, None, now=T0 + 10 + n)
                for n, i in enumerate(ids)
            )
        )
    finally:
        await finisher.close()
    assert answers == [i != dead for i in ids]
    for n, i in enumerate(ids):
        row = await run_row(engine, i)
        if i == dead:
            assert (row.status, row.error, row.finished_at) == ("failed", "orphaned: x", None)
        else:
            assert (row.status, row.records_read, row.messages_queued, row.finished_at) == (
                "succeeded",
                n,
                n % 3,
                T0 + 10 + n,
            )
    # every key is free again, the dead one included
    for n in range(30):
        key = f"s100@C{n:02d}.ap_invoices"
        assert await try_start_run(engine, key, "manual", "b:2", now=T0 + 100) is not None


async def test_a_paused_company_gets_its_pause_and_no_run_row(engine: AsyncEngine) -> None:
    from ml_connector.schedule.runs import start_run
    from ml_connector.store.companies import Pause, pause, resume

    async with engine.begin() as conn:
        await pause(conn, "s100", "ABC", note="month end")
    started = await start_run(
        engine, "s100@ABC.ap_invoices", "schedule", "a:1", unless_paused=("s100", "ABC"), now=T0
    )
    assert isinstance(started, Pause) and started.note == "month end"
    async with engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(runs))).scalar_one()
    assert count == 0
    # another company of the same pipeline is not held back
    other = await start_run(
        engine, "s100@XYZ.ap_invoices", "schedule", "a:1", unless_paused=("s100", "XYZ"), now=T0
    )
    assert isinstance(other, int)
    async with engine.begin() as conn:
        await resume(conn, "s100", "ABC")
    again = await start_run(
        engine, "s100@ABC.ap_invoices", "schedule", "a:1", unless_paused=("s100", "ABC"), now=T0
    )
    assert isinstance(again, int)
