"""Slots: each fire time runs once across processes; downtime gives one catch-up, not a burst."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.schedule import ScheduleSpec, fires_between
from ml_connector.schedule.fire_slots import Claim, attach_run, claim_due, latest_slot
from ml_connector.store.tables import schedule_slots

HOURLY = ScheduleSpec(cron="0 * * * *", timezone="UTC")
FIVE_MINUTES = ScheduleSpec(cron="*/5 * * * *", timezone="UTC")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


async def slot_rows(engine: AsyncEngine, name: str) -> list[sa.Row[tuple[float, str, int, str]]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.select(
                schedule_slots.c.fire_time,
                schedule_slots.c.reason,
                schedule_slots.c.coalesced,
                schedule_slots.c.claimed_by,
            )
            .where(schedule_slots.c.schedule == name)
            .order_by(schedule_slots.c.fire_time)
        )
        return list(result.all())


async def test_due_slot_is_claimed_once_and_then_nothing_is_due(engine: AsyncEngine) -> None:
    claim = await claim_due(engine, "intacct", HOURLY, T0 + 20, "a", last_fire_lookback=DAY)
    assert claim is not None
    assert (claim.fire_time, claim.trigger, claim.coalesced) == (T0, "schedule", 0)
    assert claim.fire.reason == "hourly"
    assert await claim_due(engine, "intacct", HOURLY, T0 + 40, "b", last_fire_lookback=DAY) is None
    assert await latest_slot(engine, "intacct") == T0
    # Another schedule has slots of its own.
    other = await claim_due(engine, "sage100.ap", HOURLY, T0 + 40, "b", last_fire_lookback=DAY)
    assert other is not None and other.fire_time == T0


async def test_downtime_of_several_slots_gives_one_coalesced_claim(engine: AsyncEngine) -> None:
    first = await claim_due(engine, "intacct", HOURLY, T0 + 5, "a", last_fire_lookback=DAY)
    assert first is not None
    # Down from 09:00 to 14:10: the 10:00 … 14:00 slots were missed.
    later = T0 + 5 * 3600 + 600
    catch_up = await claim_due(engine, "intacct", HOURLY, later, "a", last_fire_lookback=DAY)
    assert catch_up is not None
    assert catch_up.fire_time == T0 + 5 * 3600
    assert (catch_up.trigger, catch_up.coalesced) == ("catchup", 4)
    rows = await slot_rows(engine, "intacct")
    assert [(r.fire_time, r.coalesced) for r in rows] == [(T0, 0), (T0 + 5 * 3600, 4)]
    assert rows[1].reason == "hourly (catch-up for 5 slots)"
    assert (
        await claim_due(engine, "intacct", HOURLY, later + 60, "a", last_fire_lookback=DAY) is None
    )


async def test_a_single_late_slot_is_a_catch_up(engine: AsyncEngine) -> None:
    assert await claim_due(engine, "intacct", HOURLY, T0, "a", last_fire_lookback=DAY) is not None
    claim = await claim_due(engine, "intacct", HOURLY, T0 + 5400, "a", last_fire_lookback=DAY)
    assert claim is not None
    assert (claim.fire_time, claim.trigger, claim.coalesced) == (T0 + 3600, "catchup", 0)


async def test_a_schedule_without_history_has_missed_nothing(engine: AsyncEngine) -> None:
    # First start at 09:20: the 09:00 slot and those before it were never this schedule's.
    assert await claim_due(engine, "new", HOURLY, T0 + 1200, "a", last_fire_lookback=DAY) is None
    claim = await claim_due(engine, "new", HOURLY, T0 + 3600 + 3, "a", last_fire_lookback=DAY)
    assert claim is not None
    assert (claim.fire_time, claim.trigger, claim.coalesced) == (T0 + 3600, "schedule", 0)


async def test_lookback_bounds_how_far_back_slots_count(engine: AsyncEngine) -> None:
    first = await claim_due(engine, "intacct", HOURLY, T0, "a", last_fire_lookback=DAY)
    assert first is not None
    # A week later, with a 3-hour lookback, only the last 3 slots are considered.
    week = T0 + 7 * DAY + 60
    claim = await claim_due(engine, "intacct", HOURLY, week, "a", last_fire_lookback=3 * 3600)
    assert claim is not None
    assert (claim.fire_time, claim.coalesced) == (T0 + 7 * DAY, 2)


async def test_skip_mode_drops_missed_slots_and_waits_for_the_next(engine: AsyncEngine) -> None:
    skip = HOURLY.model_copy(update={"catch_up": "skip"})
    assert await claim_due(engine, "gl", skip, T0 + 30, "a", last_fire_lookback=DAY) is not None
    # Back at 12:30 after missing 10:00, 11:00 and 12:00: nothing runs now …
    back = T0 + 3 * 3600 + 1800
    assert await claim_due(engine, "gl", skip, back, "a", last_fire_lookback=DAY) is None
    rows = await slot_rows(engine, "gl")
    assert rows[-1].fire_time == T0 + 3 * 3600
    assert rows[-1].reason == "skipped, 30 min late: hourly"
    assert await claim_due(engine, "gl", skip, back + 60, "b", last_fire_lookback=DAY) is None
    # … and the 13:00 slot runs on time.
    on_time = await claim_due(engine, "gl", skip, T0 + 4 * 3600 + 10, "a", last_fire_lookback=DAY)
    assert on_time is not None
    assert (on_time.trigger, on_time.coalesced, on_time.skipped) == ("schedule", 0, 0)


async def test_skip_mode_runs_the_latest_slot_if_on_time(engine: AsyncEngine) -> None:
    skip = HOURLY.model_copy(update={"catch_up": "skip"})
    assert await claim_due(engine, "gl", skip, T0 + 30, "a", last_fire_lookback=DAY) is not None
    # Down 09:00 → 12:00:30; 10:00 and 11:00 are dropped, 12:00 is on time.
    claim = await claim_due(engine, "gl", skip, T0 + 3 * 3600 + 30, "a", last_fire_lookback=DAY)
    assert claim is not None
    assert (claim.fire_time, claim.skipped, claim.coalesced) == (T0 + 3 * 3600, 2, 0)


async def test_attach_run_records_the_run(engine: AsyncEngine) -> None:
    claim = await claim_due(engine, "intacct", HOURLY, T0 + 5, "a", last_fire_lookback=DAY)
    assert claim is not None
    await attach_run(engine, claim, 42)
    async with engine.connect() as conn:
        run_id = await conn.scalar(sa.select(schedule_slots.c.run_id))
    assert run_id == 42


async def test_three_claimers_on_three_engines_fire_each_slot_once(database: Any) -> None:
    engines = [database.engine() for _ in range(3)]
    start = T0 - 1
    ticks = [start + 40 * i for i in range(61)]  # 40 minutes in 40-second polls

    async def claimer(engine: AsyncEngine, owner: str) -> list[Claim]:
        won = []
        for now in ticks:
            claim = await claim_due(
                engine, "sage100.ap", FIVE_MINUTES, now, owner, last_fire_lookback=60.0
            )
            if claim is not None:
                won.append(claim)
            await asyncio.sleep(0)
        return won

    results = await asyncio.gather(*(claimer(e, f"p{i}") for i, e in enumerate(engines)))
    claimed = Counter(claim.fire_time for won in results for claim in won)
    expected = [
        f.epoch
        for f in fires_between(
            FIVE_MINUTES,
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(ticks[-1], UTC),
        )
    ]
    assert len(expected) == 8
    assert sorted(claimed) == expected
    assert set(claimed.values()) == {1}
    rows = await slot_rows(engines[0], "sage100.ap")
    assert [r.fire_time for r in rows] == expected
    assert {r.coalesced for r in rows} == {0}


async def test_three_claimers_after_downtime_agree_on_one_catch_up(database: Any) -> None:
    engines = [database.engine() for _ in range(3)]
    await claim_due(engines[0], "intacct", HOURLY, T0, "p0", last_fire_lookback=DAY)
    back = T0 + 6 * 3600 + 90
    claims = await asyncio.gather(
        *(
            claim_due(e, "intacct", HOURLY, back, f"p{i}", last_fire_lookback=DAY)
            for i, e in enumerate(engines)
        )
    )
    won = [claim for claim in claims if claim is not None]
    assert len(won) == 1
    assert (won[0].fire_time, won[0].coalesced) == (T0 + 6 * 3600, 5)


def test_claim_fire_time_is_the_fire_epoch() -> None:
    fire = fires_between(
        HOURLY, datetime.fromtimestamp(T0 - 1, UTC), datetime.fromtimestamp(T0, UTC)
    )[0]
    assert Claim("x", fire, "schedule").fire_time == T0
    assert fire.at - timedelta(0) == datetime.fromtimestamp(T0, UTC)


async def test_three_processes_fire_each_slot_once(database: Any) -> None:
    """Separate OS processes, as `serve` runs them, racing for the same slots."""
    worker = Path(__file__).with_name("claim_worker.py")
    db = database
    start_at = time.time() + 1.5
    first, step, count = T0 - 1, 20.0, 91  # 30 minutes in 20-second polls
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(worker),
            db.url,
            db.schema or "-",
            f"process-{i}",
            str(start_at),
            FIVE_MINUTES.model_dump_json(),
            str(first),
            str(step),
            str(count),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(3)
    ]
    outputs = [await process.communicate() for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    won = [json.loads(out) for out, _ in outputs]
    claimed = Counter(fire_time for fires in won for fire_time in fires)
    assert sorted(claimed) == [T0 + 300 * i for i in range(6)]
    assert set(claimed.values()) == {1}
