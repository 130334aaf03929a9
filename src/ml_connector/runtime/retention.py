"""The periodic prune inside `serve`: every :data:`EVERY` seconds (± jitter), one pass of
:func:`ml_connector.delivery.retention.prune_all`.

The first pass waits a little after start-up (so a restart does not compete with catch-up
runs and lease reclaims for the lock), and each interval is jittered so that several
PostgreSQL instances started together do not prune in lock-step. Between batches the task
sleeps :data:`PAUSE` seconds: on SQLite every batch holds the one write lock, and the pause
is what lets the delivery workers and the scheduler write in between. A failed pass is
logged and tried at the next interval: retention is housekeeping, and must never stop the
service that delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import RetentionConfig
from ml_connector.delivery.retention import BATCH_SIZE, CycleReport, prune_all
from ml_connector.logging import get_logger
from ml_connector.store.outage import OutageWatch

log = get_logger("ml_connector.retention")

EVERY = 3600.0
FIRST_AFTER = 120.0
JITTER = 0.2  # ± this fraction of each wait
PAUSE = 0.05


def jittered(seconds: float, rng: random.Random, fraction: float = JITTER) -> float:
    """``seconds`` moved by up to ± ``fraction`` of itself."""
    return seconds * (1.0 + rng.uniform(-fraction, fraction))


class RetentionTask:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: RetentionConfig,
        *,
        every: float = EVERY,
        first_after: float = FIRST_AFTER,
        batch_size: int = BATCH_SIZE,
        pause: float = PAUSE,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.every = every
        self.first_after = first_after
        self.batch_size = batch_size
        self.pause = pause
        self.rng = rng or random.Random()
        self.passes = 0
        self._watch = OutageWatch("retention")

    async def run(self, stop: asyncio.Event) -> None:
        wait = jittered(self.first_after, self.rng)
        while not await _sleep(stop, wait):
            await self.run_once(stop)
            wait = jittered(self.every, self.rng)

    async def run_once(self, stop: asyncio.Event | None = None) -> CycleReport | None:
        """One pass; ``None`` if it failed (logged)."""
        halt = stop or asyncio.Event()

        async def between_batches() -> bool:
            return not await _sleep(halt, self.pause)

        try:
            report = await prune_all(
                self.engine,
                days=self.settings.days,
                now=clock.now(),
                batch_size=self.batch_size,
                pause=between_batches,
            )
        except Exception as exc:  # housekeeping: log, retry next interval, never stop serving
            if self._watch.failed(exc) is None:  # an outage is said once, when it starts
                log.error("retention pass failed; trying again later", error=str(exc))
            return None
        self._watch.succeeded()
        self.passes += 1
        if report.total:
            log.info(
                "retention pruned old rows",
                days=self.settings.days,
                rows=report.rows,
                batches=report.batches,
                longest_batch_ms=round(report.longest_batch * 1000, 1),
                complete=report.complete,
            )
        return report


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; ``True`` if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    return stop.is_set()
