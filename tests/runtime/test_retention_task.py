"""The prune task inside `serve`: jittered intervals, stops promptly, and a failing pass is
logged and retried rather than stopping the service."""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import RetentionConfig
from ml_connector.runtime.retention import RetentionTask, jittered
from ml_connector.store.retention import DAY
from ml_connector.store.tables import outbox


def test_waits_are_jittered_within_the_fraction() -> None:
    rng = random.Random(3)
    waits = [jittered(100.0, rng, 0.2) for _ in range(200)]
    assert all(80.0 <= w <= 120.0 for w in waits)
    assert len({round(w, 3) for w in waits}) > 150  # they really differ


async def _message(engine: AsyncEngine, key: str, status: str, age_days: float) -> None:
    at = clock.now() - age_days * DAY
    async with engine.begin() as conn:
        await conn.execute(
            outbox.insert().values(
                dedupe_key=key,
                workspace="w",
                channel="C0123ABCD",
                status=status,
                source={},
                message={"text": "t", "blocks": []},
                created_at=at,
                not_before=at,
                delivered_at=at if status == "delivered" else None,
            )
        )


async def test_the_task_prunes_on_its_interval_and_stops_at_once(engine: AsyncEngine) -> None:
    await _message(engine, "old", "delivered", 10)
    await _message(engine, "held", "held", 10)
    await _message(engine, "new", "delivered", 0)
    task = RetentionTask(engine, RetentionConfig(days=5), every=0.05, first_after=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(task.run(stop))
    for _ in range(200):
        if task.passes >= 2:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert task.passes >= 2
    async with engine.connect() as conn:
        assert set(await conn.scalars(sa.select(outbox.c.dedupe_key))) == {"held", "new"}


async def test_a_failing_pass_is_logged_and_the_task_goes_on(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def broken(*_args: object, **_kwargs: object) -> None:
        nonlocal calls
        calls += 1
        raise sa.exc.OperationalError("DELETE", {}, Exception("database is locked"))

    monkeypatch.setattr("ml_connector.runtime.retention.prune_all", broken)
    task = RetentionTask(engine, RetentionConfig(), every=0.02, first_after=0.0)
    stop = asyncio.Event()
    running = asyncio.create_task(task.run(stop))
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, timeout=5)  # it did not raise: serve keeps running
    assert calls >= 3 and task.passes == 0
