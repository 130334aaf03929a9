"""A run declared dead while still alive commits nothing: no duplicates, cursor unmoved.

A run whose heartbeat went missing (its process hung, or the disk was full) is marked failed
by the next starter, which runs the same key in its place. When the old run comes back to
life and commits, the fence in the outbox (``schedule.runs.fence_run``) must refuse it, or
the events both runs read are posted twice and the cursor goes back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.delivery.outbox import OutboxMessage, enqueue_all
from ml_connector.errors import RunSupersededError
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.schedule.runs import fail_orphaned_runs, fence_run, try_start_run
from ml_connector.store.tables import cursors, outbox, runs
from ml_connector.vault import Vault

from .test_scheduler import config

KEY = "intacct"


@dataclass(frozen=True)
class Digest:
    """One message naming a window of events; its key names the window, as a summary's does."""

    channel: str
    kind: str
    message: OutboxMessage
    dedupe_key: str
    source: dict[str, Any] = field(default_factory=dict)


class WindowPipeline:
    """Reads the events past its cursor, waits at ``gate`` (if set), then commits one digest
    of them and the cursor past them, in one transaction, as the real pipelines do."""

    name = KEY

    def __init__(self, events: list[int], gate: asyncio.Event | None = None) -> None:
        self.events = events
        self.gate = gate
        self.read: asyncio.Event = asyncio.Event()

    async def run(self, ctx: RunContext) -> RunOutcome:
        async with ctx.engine.connect() as conn:
            stored = await conn.scalar(sa.select(cursors.c.value).where(cursors.c.pipeline == KEY))
        start = int(stored["next"]) if stored else 0
        window = [e for e in self.events if e >= start]
        self.read.set()
        if self.gate is not None:
            await self.gate.wait()
        digest = Digest(
            channel="C0AAAAAAA",
            kind="digest",
            message=OutboxMessage(text=f"events {window}", blocks=[]),
            dedupe_key=f"digest:{window[0]}-{window[-1]}",
            source={"events": window},
        )
        async with ctx.engine.begin() as conn:
            queued = await enqueue_all(
                conn, [digest], workspace="default", pipeline=KEY, run_id=ctx.run_id
            )
            await conn.execute(cursors.delete().where(cursors.c.pipeline == KEY))
            await conn.execute(
                cursors.insert().values(
                    pipeline=KEY, stream="all", value={"next": window[-1] + 1}, updated_at=0.0
                )
            )
        return RunOutcome("succeeded", records_read=len(window), messages_queued=len(queued))

    async def aclose(self) -> None:
        return None


def runner(engine: AsyncEngine, pipeline: WindowPipeline, owner: str) -> PipelineRunner:
    # No background beat during the test: the run is declared dead by backdating its beat.
    return PipelineRunner(
        engine, Vault.ephemeral(engine), config(), {KEY: pipeline}, owner=owner,
        heartbeat_seconds=3600,
    )  # fmt: skip


async def test_a_run_declared_dead_and_replaced_cannot_enqueue(database: Any) -> None:
    events = [0, 1, 2, 3, 4]
    gate = asyncio.Event()
    hung = WindowPipeline(events, gate)
    first_engine, second_engine = database.engine(), database.engine()  # two processes
    old = asyncio.create_task(runner(first_engine, hung, "p1").run_one(KEY, "schedule"))
    await asyncio.wait_for(hung.read.wait(), 10)

    # p1 hangs past the stale limit; two more events arrive; p2's scheduler fires.
    async with first_engine.begin() as conn:
        await conn.execute(runs.update().values(heartbeat_at=clock.now() - 3600))
    events += [5, 6]
    replacement = await runner(second_engine, WindowPipeline(events), "p2").run_one(KEY, "schedule")
    assert replacement.status == "succeeded", replacement.error

    gate.set()  # p1 comes back and commits what it read
    outcome = await asyncio.wait_for(old, 10)

    old_id = replacement.details["run_id"] - 1
    assert outcome.status == "failed"
    assert outcome.summary == "superseded"
    assert outcome.error is not None
    assert f"run {old_id} of {KEY}" in outcome.error
    assert f"run {replacement.details['run_id']} took its place" in outcome.error
    async with first_engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.source, outbox.c.run_id))).all()
        cursor = await conn.scalar(sa.select(cursors.c.value).where(cursors.c.pipeline == KEY))
        old_row = (
            await conn.execute(sa.select(runs.c.status, runs.c.error).where(runs.c.id == old_id))
        ).one()
    posted = [e for row in rows for e in row.source["events"]]
    assert sorted(posted) == events, "an event is missing or queued twice"
    assert {row.run_id for row in rows} == {replacement.details["run_id"]}
    assert cursor == {"next": 7}, "the superseded run moved the cursor back"
    assert old_row.status == "failed"
    assert old_row.error.startswith("superseded:")
    assert "orphaned" in old_row.error  # why it was declared dead stays on the record


async def test_the_fence_and_declaring_the_run_dead_do_not_interleave(database: Any) -> None:
    """While a run's commit is open past the fence, declaring the run dead waits for it (a
    row lock on PostgreSQL, the write lock on SQLite); once it is dead, commits are refused."""
    writer, other = database.engine(), database.engine()
    run_id = await try_start_run(writer, KEY, "schedule", "p1")
    assert run_id is not None
    declared: asyncio.Task[list[int]] | None = None
    async with writer.begin() as conn:
        await fence_run(conn, run_id)
        declared = asyncio.create_task(
            fail_orphaned_runs(other, stale_after=1.0, now=clock.now() + 60)
        )
        await asyncio.sleep(0.5)
        assert not declared.done(), "the run was declared dead inside its own commit"
    assert await asyncio.wait_for(declared, 30) == [run_id]
    with pytest.raises(RunSupersededError) as refused:
        async with writer.begin() as conn:
            await fence_run(conn, run_id)
    assert refused.value.run_id == run_id
    assert refused.value.superseded_by is None
    assert "declared failed (orphaned: no heartbeat" in str(refused.value)


async def test_a_run_id_without_a_row_is_not_fenced(engine: AsyncEngine) -> None:
    """Pipelines run outside the runner (tests, tools) pass ids no run row has."""
    async with engine.begin() as conn:
        await fence_run(conn, 424242)
