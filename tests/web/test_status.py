"""``gather_status``: the one snapshot behind the page, ``/mlc status`` and the CLI."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.outbox import OutboxMessage, enqueue
from ml_connector.schedule.configured import DEFAULT_INTACCT_SCHEDULE
from ml_connector.schedule.runs import finish_run, try_start_run
from ml_connector.status import describe_schedule, gather_status
from ml_connector.store.tables import outbox

from .conftest import make_config

CHICAGO = ZoneInfo("America/Chicago")
# Tuesday 2026-11-24 10:00 in Chicago: not a close day, so the next run is Wednesday 06:30.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=CHICAGO).timestamp()


async def test_status_of_a_pipeline_with_runs_and_messages(engine: AsyncEngine) -> None:
    first = await try_start_run(engine, "intacct", "schedule", "t", now=NOW - 3600)
    assert first is not None
    await finish_run(
        engine, first, "failed", 0, 0, "auth failed: token=xoxb-111-222-secret", now=NOW - 3590
    )
    running = await try_start_run(engine, "intacct", "slack", "t", now=NOW - 5)
    assert running is not None
    async with engine.begin() as conn:
        for n in range(3):
            await enqueue(
                conn,
                workspace="default",
                channel="C0GL000001",
                message=OutboxMessage(text=f"m{n}", blocks=[]),
                dedupe_key=f"k{n}",
                source={},
                pipeline="intacct",
            )
        await conn.execute(outbox.update().where(outbox.c.dedupe_key == "k0").values(status="dead"))

    status = await gather_status(make_config(), engine, now=NOW)

    [pipeline] = status.pipelines
    assert pipeline.last_run is not None and pipeline.last_run.status == "failed"
    assert pipeline.last_run.duration == 10
    assert pipeline.last_run.error == "auth failed: token=***"
    assert pipeline.running is not None and pipeline.running.trigger == "slack"
    assert pipeline.next_run == datetime(2026, 11, 25, 6, 30, tzinfo=CHICAGO).timestamp()
    assert pipeline.dead_letters == 1
    assert status.dead_letters == 1
    assert [(q.channel, q.depth) for q in status.queues] == [("C0GL000001", 2)]
    assert status.queued == 2
    assert [e.dedupe_key for e in status.recent] == ["k2", "k1", "k0"]
    [installation] = status.installations
    assert installation.state == "not_installed"


async def test_status_of_an_idle_service(engine: AsyncEngine) -> None:
    status = await gather_status(make_config(), engine, now=NOW, recent_limit=0)
    [pipeline] = status.pipelines
    assert pipeline.last_run is None and pipeline.running is None
    assert status.queues == () and status.recent == () and status.dead_letters == 0


def test_schedules_are_described_in_words() -> None:
    assert describe_schedule(DEFAULT_INTACCT_SCHEDULE) == (
        "business days 06:30; BD-2..BD+5: hourly"
    )
