"""Retention on SQLite and PostgreSQL: only finished work older than the window goes, in
batches, and what went leaves a mark that tells "pruned" from "never existed"."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.audit import record_attempt
from ml_connector.delivery.outbox import Status
from ml_connector.delivery.replay import replay_one
from ml_connector.store import retention
from ml_connector.store.retention import (
    ATTEMPTS,
    DAY,
    OUTBOX,
    RUNS,
    get_mark,
    prune_all,
    prune_batch,
    why_missing,
    why_run_empty,
)
from ml_connector.store.tables import (
    delivery_attempts,
    outbox,
    retention_marks,
    runs,
    schedule_slots,
    service_instances,
    slack_events,
)

NOW = 2_000_000_000.0
DAYS = 90
OLD = NOW - (DAYS + 1) * DAY
YOUNG = NOW - (DAYS - 1) * DAY
KEYS = itertools.count()
KEPT_STATUSES = [s.value for s in Status if s is not Status.DELIVERED]


async def add_message(
    engine: AsyncEngine,
    *,
    status: str,
    at: float,
    attempts: int = 1,
    run_id: int | None = None,
) -> int:
    """A message created and (if delivered) delivered at ``at``, with ``attempts`` attempts."""
    async with engine.begin() as conn:
        new_id = await conn.scalar(
            outbox.insert()
            .values(
                dedupe_key=f"k:{next(KEYS)}",
                workspace="main",
                channel="C0123ABCD",
                pipeline="gl",
                run_id=run_id,
                status=status,
                source={"records": ["r1"]},
                message={"text": "hello", "blocks": []},
                attempts=attempts,
                created_at=at,
                not_before=at,
                delivered_at=at if status == Status.DELIVERED else None,
                slack_ts="1.2" if status == Status.DELIVERED else None,
            )
            .returning(outbox.c.id)
        )
        assert new_id is not None
        for _ in range(attempts):
            await record_attempt(conn, new_id, at=at, outcome="delivered", worker="w")
    return int(new_id)


async def ids(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return set(await conn.scalars(sa.select(outbox.c.id)))


async def attempt_owners(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return set(await conn.scalars(sa.select(delivery_attempts.c.outbox_id)))


async def test_only_delivered_messages_older_than_the_window_go(engine: AsyncEngine) -> None:
    old_delivered = await add_message(engine, status="delivered", at=OLD, attempts=2)
    young_delivered = await add_message(engine, status="delivered", at=YOUNG)
    old_open = {s: await add_message(engine, status=s, at=OLD) for s in KEPT_STATUSES}
    newest = await add_message(engine, status="delivered", at=NOW)

    report = await prune_all(engine, days=DAYS, now=NOW)

    assert report.rows == {OUTBOX: 1, ATTEMPTS: 2}
    left = await ids(engine)
    assert old_delivered not in left
    assert {young_delivered, newest, *old_open.values()} == left
    assert old_delivered not in await attempt_owners(engine)
    assert set(old_open.values()) <= await attempt_owners(engine)  # a dead letter keeps its trail


async def test_the_newest_message_is_kept_so_sqlite_never_reuses_its_id(
    engine: AsyncEngine,
) -> None:
    first = await add_message(engine, status="delivered", at=OLD)
    last = await add_message(engine, status="delivered", at=OLD)
    await prune_all(engine, days=DAYS, now=NOW)
    assert await ids(engine) == {last}
    assert await add_message(engine, status="pending", at=NOW) > last > first


async def test_prunes_in_batches_of_the_given_size(engine: AsyncEngine) -> None:
    for _ in range(23):
        await add_message(engine, status="delivered", at=OLD, attempts=0)
    keeper = await add_message(engine, status="pending", at=NOW, attempts=0)
    pauses = 0

    async def pause() -> bool:
        nonlocal pauses
        pauses += 1
        return True

    report = await prune_all(engine, days=DAYS, now=NOW, batch_size=5, pause=pause)
    assert report.rows[OUTBOX] == 23
    assert pauses == 4  # 5+5+5+5 then 3: a pause after each full batch
    assert await ids(engine) == {keeper}
    assert report.longest_batch > 0


async def test_one_batch_takes_at_most_its_size(engine: AsyncEngine) -> None:
    for _ in range(8):
        await add_message(engine, status="delivered", at=OLD, attempts=0)
    await add_message(engine, status="pending", at=NOW, attempts=0)
    rule = retention.RULES[0]
    pruned, held = await prune_batch(engine, rule, days=DAYS, now=NOW, limit=3)
    assert pruned.rows[OUTBOX] == 3
    assert len(await ids(engine)) == 6
    assert held > 0


async def test_a_stopping_service_ends_the_pass_between_batches(engine: AsyncEngine) -> None:
    for _ in range(10):
        await add_message(engine, status="delivered", at=OLD, attempts=0)
    await add_message(engine, status="pending", at=NOW, attempts=0)

    async def stop() -> bool:
        return False

    report = await prune_all(engine, days=DAYS, now=NOW, batch_size=4, pause=stop)
    assert not report.complete
    assert report.rows[OUTBOX] == 4


async def test_aged_out_and_never_existed_are_told_apart(engine: AsyncEngine) -> None:
    pruned = await add_message(engine, status="delivered", at=OLD)
    kept = await add_message(engine, status="dead", at=OLD)
    await prune_all(engine, days=DAYS, now=NOW)
    async with engine.begin() as conn:
        mark = await get_mark(conn, OUTBOX)
        assert mark is not None and mark.days == DAYS and mark.through_id == pruned
        gone = await why_missing(conn, pruned)
        never = await why_missing(conn, kept + 1000)
        result = await replay_one(conn, pruned)
    assert "pruned by retention after 90 days" in gone
    assert "before 2033-02-17" in gone  # NOW (2033-05-18) - 90 days
    assert "has ever existed" in never and "pruned by retention" not in never
    assert result.replay is None and result.skipped == gone


async def test_never_existed_before_any_pruning(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert "has ever existed" in await why_missing(conn, 1)
        assert "no run with id 7 has ever existed" in await why_run_empty(conn, 7)


async def add_run(
    engine: AsyncEngine, *, pipeline: str, at: float, status: str = "succeeded"
) -> int:
    async with engine.begin() as conn:
        run_id = await conn.scalar(
            runs.insert()
            .values(
                pipeline=pipeline, trigger="schedule", status=status, started_at=at, finished_at=at
            )
            .returning(runs.c.id)
        )
    assert run_id is not None
    return int(run_id)


async def test_old_runs_go_except_each_pipelines_newest(engine: AsyncEngine) -> None:
    old_gl = await add_run(engine, pipeline="gl", at=OLD - 10)
    old_gl_latest = await add_run(engine, pipeline="gl", at=OLD)
    only_ap = await add_run(engine, pipeline="ap", at=OLD - 5)
    stuck = await add_run(engine, pipeline="ap", at=OLD - 1, status="running")
    young = await add_run(engine, pipeline="ar", at=YOUNG)
    older_ar = await add_run(engine, pipeline="ar", at=OLD)
    message = await add_message(engine, status="delivered", at=OLD, run_id=old_gl)
    await add_message(engine, status="pending", at=NOW)

    await prune_all(engine, days=DAYS, now=NOW)

    async with engine.connect() as conn:
        left = set(await conn.scalars(sa.select(runs.c.id)))
        assert left == {old_gl_latest, only_ap, stuck, young}
        assert older_ar not in left
        assert "run" in await why_run_empty(conn, old_gl)
        assert "pruned by retention after 90 days" in await why_run_empty(conn, old_gl)
        # kept (newest of its pipeline), but its messages have aged out
        assert "messages were pruned" in await why_run_empty(conn, old_gl_latest)
        assert await why_run_empty(conn, young) == f"run {young} queued no messages"
    assert message not in await ids(engine)


async def test_slots_events_and_dead_instances_go_on_their_own_windows(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        for schedule, fire in (("a", OLD - 60), ("a", OLD), ("a", YOUNG), ("b", OLD)):
            await conn.execute(
                schedule_slots.insert().values(
                    schedule=schedule, fire_time=fire, claimed_by="x", claimed_at=fire
                )
            )
        for event_id, seen in (("Ev1", NOW - 2 * DAY), ("Ev2", NOW - 3600)):
            await conn.execute(slack_events.insert().values(event_id=event_id, received_at=seen))
        for instance_id, beat in (("crashed", NOW - 2 * DAY), ("alive", NOW - 10)):
            await conn.execute(
                service_instances.insert().values(
                    instance_id=instance_id, host="h", pid=1, started_at=beat, heartbeat_at=beat
                )
            )
    report = await prune_all(engine, days=DAYS, now=NOW)
    async with engine.connect() as conn:
        slots = set(
            (
                await conn.execute(sa.select(schedule_slots.c.schedule, schedule_slots.c.fire_time))
            ).all()
        )
        events = set(await conn.scalars(sa.select(slack_events.c.event_id)))
        instances = set(await conn.scalars(sa.select(service_instances.c.instance_id)))
    # each schedule keeps its newest slot (catch-up reads it), however old
    assert slots == {("a", YOUNG), ("b", OLD)}
    assert events == {"Ev2"}
    assert instances == {"alive"}
    assert report.rows[retention.SLOTS] == 2


async def test_marks_accumulate_and_only_move_forward(engine: AsyncEngine) -> None:
    first = await add_message(engine, status="delivered", at=OLD - DAY)
    await add_message(engine, status="pending", at=NOW)
    await prune_all(engine, days=DAYS, now=NOW)
    second = await add_message(engine, status="delivered", at=OLD)
    await add_message(engine, status="pending", at=NOW)
    await prune_all(engine, days=DAYS, now=NOW + 1)
    async with engine.connect() as conn:
        mark = await get_mark(conn, OUTBOX)
        assert mark is not None
        assert mark.pruned_rows == 2 and mark.through_id == second > first
        assert mark.cutoff == NOW + 1 - DAYS * DAY
        assert await get_mark(conn, RUNS) is None  # nothing pruned there: no mark


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in (outbox, delivery_attempts, retention_marks):
            await conn.execute(table.delete())


# Ages in days on the half hour, so no age ever equals a whole number of days exactly.
MESSAGE = st.tuples(
    st.sampled_from([s.value for s in Status]),
    st.integers(min_value=0, max_value=200 * 24).map(lambda hours: (hours + 0.5) / 24),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    messages=st.lists(MESSAGE, min_size=1, max_size=25),
    days=st.integers(min_value=1, max_value=150),
    batch=st.integers(min_value=1, max_value=7),
)
async def test_nothing_undelivered_is_ever_pruned(
    engine: AsyncEngine, messages: list[tuple[str, float]], days: int, batch: int
) -> None:
    await _reset(engine)
    made: dict[int, tuple[str, float]] = {}
    for status, age in messages:
        made[await add_message(engine, status=status, at=NOW - age * DAY)] = (status, age)
    await prune_all(engine, days=days, now=NOW, batch_size=batch)
    left = await ids(engine)
    newest = max(made)
    for outbox_id, (status, age) in made.items():
        should_go = status == Status.DELIVERED and age > days and outbox_id != newest
        assert (outbox_id not in left) == should_go, (outbox_id, status, age, days)
    assert await attempt_owners(engine) == left
    async with engine.connect() as conn:
        for outbox_id in set(made) - left:
            assert "pruned by retention" in await why_missing(conn, outbox_id)
