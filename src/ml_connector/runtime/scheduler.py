"""The scheduler loop: claims due slots of every configured schedule and starts their runs.

Claims go through ``schedule.fire_slots.claim_due_many``, whose unique (schedule, fire time)
key makes a slot run once however many processes are up; missed slots after downtime come
back as one coalesced catch-up claim. Runs of one schedule never overlap: a slot won while
the previous run is still going is absorbed (``try_start_run`` refuses it). A paused
company's schedules claim nothing; once resumed, the slots it missed come back as one
catch-up run, which reads from the company's cursor (nothing is missed, nothing posted twice).

Many companies on the same cron (issue #22) are kept fair and bounded:

* each poll starts at its own fixed offset into the slot (``schedule.jitter``, at most
  ``scheduling.jitter_seconds``, capped at 60 s), so a thousand companies do not start in
  the same second;
* it then takes a place at its source and in the process (``runtime.gates``): at most the
  connection's ``max_concurrent`` polls per Sage 100 agent or Intacct company, and
  ``scheduling.max_concurrent_polls`` in all;
* it runs under ``scheduling.poll_timeout``; a failure backs that poll off on its own,
  alerts once after ``alert_after`` failures in a row and pauses the company after
  ``pause_after`` (``runtime.poll_health``), while every other poll goes on.

Only schedules whose next fire time has come are claimed on a tick (the next fire time of
each is kept in memory, in a heap), so a tick costs nothing when none is due. Every run that
ends wakes the scheduler (a slot that came meanwhile is claimed at once), so in a burst of
thousands of polls a tick must not look at every schedule: it looks at the heap's top and at
the few schedules left due (still running, or of a paused company).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import Config
from ml_connector.logging import get_logger
from ml_connector.runtime.gates import PollGates, Source, agent_limits, source_of
from ml_connector.runtime.poll_health import Poll, PollHealth, company_of
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.schedule.configured import ConfiguredSchedule
from ml_connector.schedule.fire_slots import Claim, claim_due_many, note_slot
from ml_connector.schedule.jitter import jitter_seconds
from ml_connector.schedule.planner import next_fire_times
from ml_connector.store.outage import OutageWatch, describe, outage_reason

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
        health: PollHealth | None = None,
        gates: PollGates | None = None,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.owner = owner
        self.lookback = lookback
        self.max_sleep = max_sleep
        self.settings = runner.config.scheduling
        self.health = health or PollHealth(engine, runner.config)
        self.gates = gates or PollGates(self.settings.max_concurrent_polls)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._next_due: dict[str, float] = {}
        # (next fire time, name), lazily cleaned: an entry counts while it matches _next_due.
        self._heap: list[tuple[float, str]] = []
        # Found due but not claimed: still running, or their company paused. Looked at on
        # every tick until claimed.
        self._left_due: set[str] = set()
        self._by_name: dict[str, ConfiguredSchedule] = {}
        self._order: dict[str, int] = {}
        self._schedules: list[ConfiguredSchedule] = []
        self._limits: tuple[Config, dict[str, int]] | None = None
        self.schedules = schedules
        self._spec_keys: dict[str, str] = {}
        self._polls: dict[str, tuple[Poll, Source]] = {}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def schedules(self) -> list[ConfiguredSchedule]:
        return self._schedules

    @schedules.setter
    def schedules(self, schedules: list[ConfiguredSchedule]) -> None:
        """Replace the schedules (companies added or gone); known ones keep their next fire
        time, new ones are looked at on the next tick."""
        self._schedules = list(schedules)
        self._by_name = {s.name: s for s in self._schedules}
        self._order = {s.name: i for i, s in enumerate(self._schedules)}
        for name in self._by_name:
            if name not in self._next_due:
                heapq.heappush(self._heap, (-math.inf, name))
        self._left_due &= self._by_name.keys()

    def _set_next_due(self, name: str, when: float) -> None:
        self._next_due[name] = when
        heapq.heappush(self._heap, (when, name))

    def _current(self, entry: tuple[float, str]) -> bool:
        """A heap entry still counts: its schedule is configured and not rescheduled since."""
        when, name = entry
        return name in self._by_name and self._next_due.get(name, -math.inf) == when

    def _pop_due(self, now: float) -> list[ConfiguredSchedule]:
        """The schedules whose fire time has come, and those left due by earlier ticks."""
        names = set(self._left_due)
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._current(entry):
                names.add(entry[1])
        self._left_due = set()
        # in the order of the file, as before the heap
        return [self._by_name[n] for n in sorted(names, key=self._order.__getitem__)]

    async def run(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self._watch(stop))
        # A database outage skips ticks; the slots it covers are claimed once it is back
        # (coalesced into one catch-up run by claim_due_many's lookback).
        watch = OutageWatch("scheduler")
        try:
            while not stop.is_set():
                self._wake.clear()
                async with watch.guard(stop):
                    await self.tick(clock.now())
                await clock.wait(self._wake, self.sleep_seconds(clock.now()))
        finally:
            watcher.cancel()
            self._stop.set()
            await self.drain()

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()
        self._wake.set()

    def poll_of(self, schedule: ConfiguredSchedule) -> tuple[Poll, Source]:
        found = self._polls.get(schedule.name)
        if found is None:
            config = self.runner.config
            code = (
                schedule.company.code
                if schedule.company is not None
                else company_of(config, schedule.pipeline)
            )
            poll = Poll(schedule.name, schedule.pipeline, code, schedule.stream)
            if self._limits is None or self._limits[0] is not config:
                # once per config, not once per schedule (a thousand connections to scan)
                self._limits = (config, agent_limits(config))
            source = source_of(config, schedule.pipeline, self._limits[1])
            found = self._polls[schedule.name] = (poll, source)
        return found

    async def tick(self, now: float) -> list[Claim]:
        """Claim and start whatever is due now; return the claims this process won."""
        due = []
        for s in self._pop_due(now):
            task = self._running.get(s.name)
            if task is not None and not task.done():
                self._left_due.add(s.name)  # claimed once its run ends
            else:
                due.append(s)
        if not due:
            return []
        try:
            await self.health.refresh()
            # A paused company's schedules claim nothing (and stay due: resumed, they catch up).
            stopped = self.health.paused
            claiming = []
            for s in due:
                if s.company is not None and (s.pipeline, s.company.code) in stopped:
                    self._left_due.add(s.name)
                else:
                    claiming.append(s)
            due = claiming
            won = await claim_due_many(
                self.engine,
                [(s.name, s.spec) for s in due],
                now,
                self.owner,
                last_fire_lookback=self.lookback,
            )
        except BaseException:
            self._left_due.update(s.name for s in due)  # looked at again on the next tick
            raise
        claims: list[Claim] = []
        upcoming = self._upcoming(due, now)
        for schedule in due:
            self._set_next_due(schedule.name, upcoming[schedule.name])
            claim = won.get(schedule.name)
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
            poll, _ = self.poll_of(schedule)
            offset = jitter_seconds(
                poll.pipeline, poll.company, poll.stream, self.settings.jitter_seconds
            )
            delay = max(0.0, claim.fire_time + offset - now)
            self._running[schedule.name] = asyncio.create_task(
                self._run(schedule, claim, delay, clock.hold()), name=f"run {schedule.name}"
            )
        return claims

    async def _run(
        self,
        schedule: ConfiguredSchedule,
        claim: Claim,
        delay: float,
        release: Callable[[], None],
    ) -> None:
        """``release``: the :func:`clock.hold` taken when the run was planned."""
        poll, source = self.poll_of(schedule)
        try:
            if delay and await clock.wait(self._stop, delay):
                await note_slot(self.engine, claim, "the service stopped")
                return
            skip = self.health.skip_reason(poll, clock.now())
            if skip is not None:
                log.info("scheduled poll skipped", schedule=schedule.name, reason=skip)
                await note_slot(self.engine, claim, skip)
                return
            async with self.gates.hold(source):
                outcome = await self.runner.run_one(
                    schedule.pipeline,
                    claim.trigger,
                    stream=schedule.stream,
                    company=schedule.company,
                    slot=(claim.schedule, claim.fire_time),
                    timeout=self.settings.poll_timeout,
                )
            if "run_id" not in outcome.details:
                return  # not started: the previous run is still going
            if outcome.summary == "superseded":
                return  # the run that replaced it says how the poll is doing
            if outcome.status == "failed":
                failing = await self.health.failed(poll, outcome.error or "failed")
                log.warning(
                    "scheduled poll failed",
                    schedule=schedule.name,
                    failures=failing.failures,
                    retry_at=clock.to_datetime(failing.retry_at).isoformat(),
                )
            else:
                await self.health.succeeded(poll)
        except Exception as exc:
            reason = outage_reason(exc)
            if reason is None:
                log.exception("scheduled run failed to start", schedule=schedule.name)
            else:
                log.warning(
                    "scheduled run failed: database unavailable",
                    schedule=schedule.name,
                    reason=reason,
                    error=describe(exc),
                )
        finally:
            release()
            # A slot that came while this run was going can be claimed now, not a whole
            # sleep later.
            self._wake.set()

    def _upcoming(self, schedules: list[ConfiguredSchedule], now: float) -> dict[str, float]:
        """Each schedule's next fire time after ``now``, worked out once per distinct spec
        (a thousand companies on one cron share it)."""
        after = datetime.fromtimestamp(now, tz=UTC)
        by_spec: dict[str, float] = {}
        found: dict[str, float] = {}
        for schedule in schedules:
            key = self._spec_keys.get(schedule.name)
            if key is None:
                key = self._spec_keys[schedule.name] = schedule.spec.model_dump_json()
            if key not in by_spec:
                fires = next_fire_times(schedule.spec, after, 1)
                by_spec[key] = fires[0].epoch if fires else math.inf
            found[schedule.name] = by_spec[key]
        return found

    def sleep_seconds(self, now: float) -> float:
        """Until the next fire time (schedules left due wake it when their run ends)."""
        heap = self._heap
        while heap and not self._current(heap[0]):
            heapq.heappop(heap)  # stale: rescheduled since, or no longer configured
        if not heap:
            return self.max_sleep
        return min(max(heap[0][0] - now, 0.05), self.max_sleep)

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
