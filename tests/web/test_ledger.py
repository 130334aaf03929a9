"""The event-id ledger: first sighting wins, across batches and within one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.errors import StoreError
from ml_connector.store.tables import slack_events
from ml_connector.web.ledger import EventLedger, SeenEvent


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[EventLedger]:
    book = EventLedger(engine, max_batch=7)
    book.start()
    yield book
    await book.close()


def seen(event_id: str) -> SeenEvent:
    return SeenEvent(event_id, "T0TEAM0001", "app_uninstalled")


async def test_an_id_is_new_once(ledger: EventLedger) -> None:
    assert await ledger.remember(seen("Ev1")) is True
    assert await ledger.remember(seen("Ev1")) is False
    assert await ledger.remember(seen("Ev2")) is True


async def test_a_burst_is_written_in_batches_and_each_id_wins_once(
    ledger: EventLedger, engine: AsyncEngine
) -> None:
    ids = [f"Ev{n % 40}" for n in range(100)]  # every id delivered two or three times
    answers = await asyncio.gather(*(ledger.remember(seen(i)) for i in ids))
    firsts = [i for i, first in zip(ids, answers, strict=True) if first]
    assert sorted(firsts) == sorted(set(ids))
    async with engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(slack_events))
    assert count == 40


async def test_handled_times_are_written_with_the_next_batch(
    ledger: EventLedger, engine: AsyncEngine
) -> None:
    await ledger.remember(seen("Ev9"))
    ledger.mark_handled("Ev9")
    await ledger.close()
    async with engine.connect() as conn:
        handled = await conn.scalar(
            sa.select(slack_events.c.handled_at).where(slack_events.c.event_id == "Ev9")
        )
    assert handled is not None


async def test_a_database_failure_reaches_every_waiting_request(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE slack_events"))
    book = EventLedger(engine)
    book.start()
    try:
        results = await asyncio.gather(
            *(book.remember(seen(f"Ev{n}")) for n in range(3)), return_exceptions=True
        )
    finally:
        await book.close()
    assert all(isinstance(r, StoreError) for r in results)


async def test_a_stopped_ledger_refuses(engine: AsyncEngine) -> None:
    with pytest.raises(StoreError):
        await EventLedger(engine).remember(seen("Ev1"))
