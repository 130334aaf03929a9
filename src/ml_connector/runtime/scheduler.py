"""The scheduler loop: claims due slots of every configured schedule and starts their runs.

Claims go through ``schedule.slots.claim_due``, whose unique (schedule, fire time) key makes
a slot run once however many processes are up; missed slots after downtime come back as one
coalesced catch-up claim. Runs of one schedule never overlap: a slot won while the previous
run is still going is absorbed (``try_start_run`` refuses it). A paused company's schedules
claim nothing; once resumed, the slots it missed come back as one catch-up run, which reads
from the company's cursor (nothing is missed, nothing posted twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.logging import get_logger
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.schedule.configured import ConfiguredSchedule
from ml_connector.schedule.fire_slots import Claim, attach_run, claim_due
from ml_connector.schedule.planner import next_fire_times
from ml_connector.store.companies import paused

log = get_logger("ml_connector.scheduler")

# Slots older than this are never run after an outage (the next on-time slot is).
LOOKBACK_SECONDS = 24 * 3600.0
# Re-evaluate at least this often, whatever the next fire time says (clock changes, drift).
MAX_SLEEP = 30.0


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        runner: PipelineRunner,
        schedules: list[ConfiguredSchedule],
        *,
        owner: str,
        lookback: float = LOOKBACK_SECONDS,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.schedules = schedules
        self.owner = owner
        self.lookback = lookback
        self.max_sleep = max_sleep
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick(clock.now())
                except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError):
                    # A database blip skips this tick; slots are claimed on the next one.
                    log.exception("scheduler: database unavailable; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.sleep_seconds(clock.now()))
        finally:
            await self.drain()

    async def tick(self, now: float) -> list[Claim]:
        """Claim and start whatever is due now; return the claims this process won."""
        claims: list[Claim] = []
        async with self.engine.connect() as conn:
            stopped = await paused(conn)
        for schedule in self.schedules:
            task = self._running.get(schedule.name)
            if task is not None and not task.done():
                continue
            company = schedule.company
            if company is not None and (schedule.pipeline, company.code) in stopped:
                continue
            claim = await claim_due(
                self.engine,
                schedule.name,
                schedule.spec,
                now,
                self.owner,
                last_fire_lookback=self.lookback,
            )
            if claim is None:
                continue
            claims.append(claim)
            log.info(
                "schedule fired",
                schedule=schedule.name,
                reason=claim.fire.reason,
                trigger=claim.trigger,
                coalesced=claim.coalesced,
            )
            self._running[schedule.name] = asyncio.create_task(
                self._run(schedule, claim), name=f"run {schedule.name}"
            )
        return claims

    async def _run(self, schedule: ConfiguredSchedule, claim: Claim) -> None:
        async def started(run_id: int) -> None:
            await attach_run(self.engine, claim, run_id)

        try:
            await self.runner.run_one(
                schedule.pipeline,
                claim.trigger,
                stream=schedule.stream,
                company=schedule.company,
                on_started=started,
            )
        except Exception:
            log.exception("scheduled run failed to start", schedule=schedule.name)

    def sleep_seconds(self, now: float) -> float:
        after = datetime.fromtimestamp(now, tz=UTC)
        upcoming = [
            fires[0].epoch
            for schedule in self.schedules
            if (fires := next_fire_times(schedule.spec, after, 1))
        ]
        if not upcoming:
            return self.max_sleep
        return min(max(min(upcoming) - now, 0.05), self.max_sleep)

    async def drain(self, timeout: float = 30.0) -> None:
        """Let runs in progress finish (their messages are committed or not at all)."""
        tasks = [t for t in self._running.values() if not t.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
